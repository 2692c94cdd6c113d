"""The multi-host drill: app hosts in network namespaces behind HAProxy, faults under load, checks after."""
