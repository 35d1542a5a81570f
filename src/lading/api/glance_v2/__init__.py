"""The OpenStack Glance v2 images API, as the glance CLI and openstacksdk speak it."""
