from django.core.management.base import BaseCommand, CommandError

from ledger.catalog import COLUMNS, CatalogImportError, catalog_import


class Command(BaseCommand):
    help = (
        "Import SKUs, locations and opening balances from a CSV with the columns "
        + ", ".join(COLUMNS)
        + " (only sku is required; tags are separated by ';'). All or nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")

    def handle(self, *args, path, **options):
        try:
            with open(path, encoding="utf-8-sig", newline="") as handle:
                report = catalog_import(rows=handle, source_name=path)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from None
        except UnicodeDecodeError:
            raise CommandError(f"{path} is not UTF-8 text; nothing was imported.") from None
        except CatalogImportError as exc:
            for error in exc.errors[:200]:
                self.stderr.write(error)
            raise CommandError(exc.detail) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported: {report.skus_created} SKU(s) created, {report.skus_updated} updated, "
                f"{report.locations_created} location(s) created, {report.opening_balances} opening "
                f"balance(s) recorded, {report.already_imported} already imported."
            )
        )
