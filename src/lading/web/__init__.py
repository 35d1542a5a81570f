"""The web UI at /ui: server-rendered pages that call the services, as the API faces do."""
