#!/bin/sh
# After a restore, before traffic: the schema is this code's (flask db check), the
# events committed up to the restore point are delivered (outbox drain: no relay runs
# yet), and every read model agrees with the command tables (flask reconcile).
# Run from the app's folder as its user, with its settings in the environment:
#
#   runuser -u vitalbridge -- sh -c 'set -a; . /etc/vitalbridge/env; set +a; \
#     cd /opt/vitalbridge && deploy/check-restored.sh'
#
# Exits non-zero at the first step that fails.
set -eu
flask=${FLASK:-.venv/bin/flask}
"$flask" --app wsgi db check
"$flask" --app wsgi outbox drain
"$flask" --app wsgi reconcile
