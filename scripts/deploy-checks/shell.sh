#!/usr/bin/env bash
# deploy check 'shell': shellcheck of the deployment scripts.
# shellcheck source=scripts/deploy-checks/lib.sh
. "$(dirname "$0")/lib.sh"

shellcheck -x docker/entrypoint.sh docker/netfault.sh scripts/docker-build-steps.sh scripts/check-deploy.sh \
    scripts/docker-image.sh scripts/docker-engine.sh scripts/test.sh \
    scripts/deploy-checks/*.sh
echo "shellcheck: ok"
