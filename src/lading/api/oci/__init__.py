"""The OCI distribution registry face (docs/api-oci.md), served on its own listener."""
