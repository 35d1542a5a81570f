"""The faces: thin adapters from each wire format to the services."""
