"""The Glance v1 face (HTTP headers for metadata), kept for the clients that still speak it."""
