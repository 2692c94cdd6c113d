"""Provisioning: the bank's systems create, update, disable and remove cardholders and cards."""
