"""The HTTP kit every face and the web UI share: request ids, the caller and bodies
(``requests``), errors as answers (``failures``), downloads with ranges (``downloads``,
``ranges``), streamed forms (``multipart``), and the middleware around the whole app
(authentication, other sites, proxies, HTTPS, unread bodies, metrics).

It imports neither ``lading.api`` nor ``lading.web``: faces build on it, never the
other way (``tests/test_layers.py``).
"""
