from django.core.management import call_command


def test_no_missing_migrations(db):
    # Raises SystemExit(1) if a model change has no migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
