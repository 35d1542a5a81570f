"""The use cases: every rule lives here, with no HTTP and no SQL text."""

from __future__ import annotations

from dataclasses import dataclass

from lading.clock import Clock
from lading.db.engine import Database
from lading.metrics import Metrics
from lading.processes import ThisProcess
from lading.services.catalogue import Catalogue
from lading.services.container_disks import ContainerDisks
from lading.services.disk_imports import DiskImports
from lading.services.downloads import DownloadLedger
from lading.services.events import Events, Outbox
from lading.services.identity import Identities
from lading.services.image_cache import ImageCache
from lading.services.imports import Imports
from lading.services.info import Info
from lading.services.locations import Locations
from lading.services.members import Members
from lading.services.metadefs import Metadefs
from lading.services.names import PackageNames
from lading.services.oci import Registry
from lading.services.oci_gc import Collector
from lading.services.onboarding import Onboarding
from lading.services.package_images import PackageImages
from lading.services.packages import Packages
from lading.services.policy import Policy
from lading.services.pypi import PythonIndexes
from lading.services.recovery import Recovery
from lading.services.resumable import Resumable
from lading.services.retention import Retention
from lading.services.sealing import Sealer
from lading.services.signing import Signatures
from lading.services.tasks import Tasks
from lading.services.transfers import Transfers
from lading.services.visor_keys import VisorKeys
from lading.services.webhooks import Webhooks
from lading.settings import Settings
from lading.stores.registry import StoreRegistry


@dataclass(frozen=True, slots=True)
class Services:
    """Every service of one process, built once from settings."""

    identities: Identities
    visor_keys: VisorKeys
    catalogue: Catalogue
    members: Members
    metadefs: Metadefs
    signatures: Signatures
    transfers: Transfers
    image_cache: ImageCache
    locations: Locations
    packages: Packages
    names: PackageNames
    tasks: Tasks
    imports: Imports
    info: Info
    onboarding: Onboarding
    recovery: Recovery
    webhooks: Webhooks
    metrics: Metrics
    registry: Registry
    registry_gc: Collector
    disk_imports: DiskImports
    downloads: DownloadLedger
    retention: Retention
    pypi: PythonIndexes
    resumable: Resumable

    @classmethod
    def build(
        cls,
        settings: Settings,
        database: Database,
        stores: StoreRegistry,
        clock: Clock | None = None,
    ) -> Services:
        """``clock`` is the system's unless a test brings its own."""
        clock = clock or Clock()
        # Every change recorded with its events, in its own transaction (an outbox).
        events = Events(settings.webhooks, clock)
        outbox = Outbox(database, events)
        names = PackageNames(database)
        catalogue = Catalogue(
            database, stores, settings.quota, names, settings.delayed_delete, outbox, clock
        )
        metrics = Metrics()
        this_process = ThisProcess()
        image_cache = ImageCache(settings, database, stores, metrics)
        downloads = DownloadLedger(database, settings.retention.download_record_interval, clock)
        transfers = Transfers(
            settings, database, stores, catalogue, metrics, this_process, outbox, image_cache,
            clock, downloads,
        )  # fmt: skip
        tasks = Tasks(settings, database, metrics, events, clock)
        policy = Policy.load(settings.policy_file, settings.property_protection_file)
        keystone = None
        if settings.keystone.auth_url is not None:
            from lading.services.keystone import KeystoneTokens  # keystoneauth1: 0.15 s

            keystone = KeystoneTokens(settings.keystone, policy, settings.default_project, clock)
        identities = Identities(database, settings.default_project, policy, keystone, clock)
        sealer = Sealer(settings)
        registry = Registry(
            settings,
            database,
            stores,
            catalogue,
            sealer,
            policy,
            this_process,
            clock,
            ContainerDisks(database, catalogue, transfers, clock),
        )
        disk_imports = DiskImports(settings, registry, transfers)
        packages = Packages(
            database, catalogue, transfers, identities, names, settings.pnda, outbox, clock
        )
        onboarding = Onboarding(
            settings,
            database,
            catalogue,
            transfers,
            tasks,
            identities,
            names,
            sealer,
            PackageImages(database, catalogue, transfers, clock),
            outbox,
            clock,
        )
        resumable = Resumable(
            settings, database, stores, catalogue, transfers, packages, onboarding,
            this_process, clock,
        )  # fmt: skip
        return cls(
            identities=identities,
            visor_keys=VisorKeys(database, sealer, policy, identities, clock),
            catalogue=catalogue,
            members=Members(database, catalogue, clock),
            metadefs=Metadefs(database, clock),
            signatures=Signatures(database, settings.signing, policy, clock),
            transfers=transfers,
            image_cache=image_cache,
            locations=Locations(
                database,
                stores,
                catalogue,
                transfers,
                tasks,
                settings.show_multiple_locations,
                outbox,
                settings.do_secure_hash,
                settings.location_hash_algorithm,
                clock,
            ),
            names=names,
            packages=packages,
            tasks=tasks,
            imports=Imports(
                settings,
                database,
                catalogue,
                transfers,
                tasks,
                sealer,
                keystone,
                clock,
                disk_imports,
            ),
            info=Info(settings, database),
            onboarding=onboarding,
            recovery=Recovery(
                settings, database, stores, catalogue, this_process, clock, resumable
            ),
            webhooks=Webhooks(settings, tasks, metrics, clock),
            metrics=metrics,
            registry=registry,
            registry_gc=Collector(settings, database, catalogue, clock),
            disk_imports=disk_imports,
            downloads=downloads,
            retention=Retention(
                settings.retention, database, catalogue, tasks, outbox, events, clock
            ),
            pypi=PythonIndexes(settings, database, stores, catalogue, this_process, outbox, clock),
            resumable=resumable,
        )
