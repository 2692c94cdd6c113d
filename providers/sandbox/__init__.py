"""Wire-faithful emulators of the provider APIs, served over real HTTP on loopback for the demo and tests."""
