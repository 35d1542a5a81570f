"""The openstacksdk functional tests that ``make interop`` runs: stestr's test path.

The wheel ships ``openstack/tests/functional`` without the source tree's ``examples``
package, which some of its modules import, so discovering the whole directory fails: this
module hands stestr the image tests alone (the load_tests protocol), under their own ids:
every ``test_*`` module of the image v2 proxy's tests, whichever the pinned release has,
the cloud layer's image tests, and the compute proxy's image tests (Nova's image API, which
interop/openstacksdk-skip-list.txt leaves out, saying so).
"""

from __future__ import annotations

import pkgutil
import unittest

OTHERS = (
    "openstack.tests.functional.cloud.test_image",
    "openstack.tests.functional.compute.v2.test_image",
)


def load_tests(
    loader: unittest.TestLoader, tests: unittest.TestSuite, pattern: str | None
) -> unittest.TestSuite:
    import openstack.tests.functional.image.v2 as image_v2  # in the run's venv, not lading's

    names = [
        f"{image_v2.__name__}.{module.name}"
        for module in pkgutil.iter_modules(image_v2.__path__)
        if module.name.startswith("test_")
    ]
    return loader.loadTestsFromNames([*sorted(names), *OTHERS])
