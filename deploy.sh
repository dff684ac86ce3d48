#!/usr/bin/env bash
# Deploy pipeline-canary: its least-privilege service account, the gen2 Cloud Function, the Cloud
# Scheduler job's invoker binding (VERIFIED after the deploy), the job itself, the Firestore TTL of
# the alert records, and the Cloud Monitoring alert that fires when the canary stops running.
#
# Idempotent: every step creates what is missing and updates what exists. `--plan` prints every
# command and runs none. The orchestrators of this pipeline went silent for 7 days because a redeploy
# dropped roles/run.invoker and nothing checked (seeds/session-205); deploys used --set-env-vars,
# which wipes every other variable (seeds/session-207). This script verifies the binding by parsing
# the policy as JSON and fails loudly without it, and only ever uses --update-env-vars/--update-secrets.
set -euo pipefail
# --set-secrets: "Existing secrets configuration will be overwritten" (gcloud functions deploy --help,
# https://cloud.google.com/sdk/gcloud/reference/functions/deploy): a re-deploy without
# --heartbeat-secret would drop the heartbeat. Test-only endpoint variables are removed on every deploy
# (--remove-env-vars, applied before --update-env-vars): on the gcp backend the canary refuses to start
# with one set, and the Slack token goes only to https://slack.com/api/.

usage() {
  cat <<'EOF'
usage: ./deploy.sh [--plan] [--smoke] [options]

  --plan                         print every command, run none (the configuration is still checked)
  --smoke                        after deploying, POST {"dry_run": true} with your identity token
  --environment NAME             DEPLOY_ENVIRONMENT        (production; e.g. staging: every name below that is not
                                                           given is derived from it, so nothing of production's
                                                           changes; needs --slack-channel of its own)
  --project ID                   DEPLOY_PROJECT            (nba-props-platform)
  --region REGION                DEPLOY_REGION             (us-west2)
  --function NAME                DEPLOY_FUNCTION           (pipeline-canary; other environments pipeline-canary-ENV)
  --service-account EMAIL        DEPLOY_SERVICE_ACCOUNT    (pipeline-canary@PROJECT.iam.gserviceaccount.com;
                                                           other environments pipeline-canary-ENV@...)
  --scheduler-service-account E  DEPLOY_SCHEDULER_SA       (pipeline-canary-scheduler@PROJECT.iam.gserviceaccount.com;
                                                           other environments canary-scheduler-ENV@...)
  --slack-secret NAME            DEPLOY_SLACK_SECRET       (pipeline-canary-slack-bot-token; other environments
                                                           pipeline-canary-ENV-slack-bot-token)
  --slack-channel NAME           DEPLOY_SLACK_CHANNEL      (#nba-pipeline-alerts; set as CANARY_SLACK_CHANNEL;
                                                           required for another environment, and not production's)
  --dataset-prefix PREFIX        DEPLOY_DATASET_PREFIX     (none; needs --environment; e.g. test_: the canary reads
                                                           test_nba_raw, ..., is granted data viewer on those only,
                                                           and gets CANARY_DATASET_PREFIX, which overrides canary.toml)
  --heartbeat-secret NAME        DEPLOY_HEARTBEAT_SECRET   (none: a secret holding CANARY_HEARTBEAT_URL)
  --pagerduty-secret NAME        DEPLOY_PAGERDUTY_SECRET   (none: a secret holding CANARY_PAGERDUTY_ROUTING_KEY, for [escalation])
  --alert-channel NAME           DEPLOY_ALERT_CHANNEL      (none: projects/P/notificationChannels/ID for the absence alert)
  --job NAME                     DEPLOY_JOB                (the function's name)
  --schedule CRON                DEPLOY_SCHEDULE           (*/30 * * * *)
  --source DIR                   DEPLOY_SOURCE             (this script's folder)
  --signing-secret NAME          DEPLOY_SIGNING_SECRET     (none: a secret holding the Slack app's signing secret;
                                                           when given, also deploys the alert buttons' function,
                                                           slack_actions: see docs/slack.md)
  --actions-function NAME        DEPLOY_ACTIONS_FUNCTION   (<function>-slack-actions)
  --actions-service-account E    DEPLOY_ACTIONS_SA         (pipeline-canary-actions@PROJECT.iam.gserviceaccount.com;
                                                            canary-actions-<environment>@... for another environment)

Environment only: DEPLOY_WORK_DIR (where the alert policy file is written; default a temporary
folder), DEPLOY_VERIFY_ATTEMPTS (3) and DEPLOY_VERIFY_DELAY (5 seconds) for the IAM verification,
DEPLOY_PYTHON (the source's .venv/bin/python when it exists, else python3: an interpreter with
requirements.txt installed, which runs `main.py check-config` on the source's canary.toml, also under --plan).
The Slack channel given here overrides [slack] channel of canary.toml (per-severity routing stays there, in
production; another environment posts every severity to its own channel). Named from the function: the log
metric FUNCTION-runs and the alert policy "FUNCTION: no run for 90 minutes".
EOF
}

PLAN=0
SMOKE=0
ENVIRONMENT="${DEPLOY_ENVIRONMENT:-production}"
PROJECT="${DEPLOY_PROJECT:-nba-props-platform}"
REGION="${DEPLOY_REGION:-us-west2}"
FUNCTION="${DEPLOY_FUNCTION:-}"
SERVICE_ACCOUNT="${DEPLOY_SERVICE_ACCOUNT:-}"
SCHEDULER_SA="${DEPLOY_SCHEDULER_SA:-}"
SLACK_SECRET="${DEPLOY_SLACK_SECRET:-}"
SLACK_CHANNEL="${DEPLOY_SLACK_CHANNEL:-}"
DATASET_PREFIX="${DEPLOY_DATASET_PREFIX:-}"
HEARTBEAT_SECRET="${DEPLOY_HEARTBEAT_SECRET:-}"
PAGERDUTY_SECRET="${DEPLOY_PAGERDUTY_SECRET:-}"
ALERT_CHANNEL="${DEPLOY_ALERT_CHANNEL:-}"
JOB="${DEPLOY_JOB:-}"
SCHEDULE="${DEPLOY_SCHEDULE:-*/30 * * * *}"
SOURCE_DIR="${DEPLOY_SOURCE:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
VERIFY_ATTEMPTS="${DEPLOY_VERIFY_ATTEMPTS:-3}"
VERIFY_DELAY="${DEPLOY_VERIFY_DELAY:-5}"
PYTHON="${DEPLOY_PYTHON:-}"
SIGNING_SECRET="${DEPLOY_SIGNING_SECRET:-}"
ACTIONS_FUNCTION="${DEPLOY_ACTIONS_FUNCTION:-}"
ACTIONS_SA="${DEPLOY_ACTIONS_SA:-}"

DATASETS=(nba_orchestration nba_reference nba_predictions nba_raw) # nba_raw: the freshness and volume checks
PROJECT_ROLES=(
  roles/bigquery.jobUser # run query jobs (billed to the project)
  roles/pubsub.viewer    # push_delivery: list the project's subscriptions (pubsub.subscriptions.list)
  roles/monitoring.viewer # push_delivery: push_request_count and oldest_unacked_message_age (monitoring.timeSeries.list)
  roles/browser          # the project's IAM policy, for project-level invoker grants (resourcemanager.projects.getIamPolicy)
  roles/datastore.user   # the alert records and silences in Firestore (see docs/deploy.md: Roles)
  # scheduler_jobs and the fixes' jobs: cloudscheduler.jobs.get/list (the viewer role: it cannot run, pause or edit a job)
  roles/cloudscheduler.viewer
  # "who changed it": entries.list of the services' Admin Activity audit logs. roles/logging.viewer reads every
  # log but Data Access and other private logs (roles/logging.privateLogViewer): Admin Activity is all it needs.
  roles/logging.viewer
)
# Reading the services' IAM policies needs run.services.getIamPolicy; push_delivery also needs their URLs
# (run.services.get, which returns the service's configuration: no predefined role has getIamPolicy
# without it, and the URLs are only in that answer). roles/run.viewer (granted by earlier versions of this
# script, and removed below) holds more: every run.*.get/list of the project (revisions, jobs, executions).
# https://cloud.google.com/run/docs/reference/iam/roles
IAM_READER_PERMISSIONS="run.services.getIamPolicy,run.services.get"
STALE_PROJECT_ROLES=(roles/run.viewer)
# Variables that point the production clients at local stand-ins (tests only): removed on every deploy.
TEST_ENDPOINT_VARS="CANARY_SLACK_BASE_URL,CANARY_BIGQUERY_ENDPOINT,CANARY_RUN_ENDPOINT,CANARY_MONITORING_ENDPOINT,CANARY_RESOURCE_MANAGER_ENDPOINT,CANARY_SCHEDULER_ENDPOINT,CANARY_LOGGING_ENDPOINT,CANARY_ALLOW_TEST_ENDPOINTS,FIRESTORE_EMULATOR_HOST,PUBSUB_EMULATOR_HOST,CANARY_PAGERDUTY_URL"
TIME_ZONE="Etc/UTC"
# What Cloud Scheduler POSTs; tests/entry/test_http.py sends exactly this body to a real server.
SCHEDULER_BODY='{"action": "run"}'
ABSENCE_MINUTES=90
# Production's names, as earlier deploys created them: another environment may share none of them.
PRODUCTION_FUNCTION="pipeline-canary"
PRODUCTION_CHANNEL="#nba-pipeline-alerts"

die() {
  printf 'deploy.sh: %s\n' "$*" >&2
  exit 2
}

need_value() {
  [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value (see --help)"
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --plan) PLAN=1 ;;
    --smoke) SMOKE=1 ;;
    -h | --help) usage; exit 0 ;;
    --*=*)
      set -- "${1%%=*}" "${1#*=}" "${@:2}"
      continue
      ;;
    --environment) need_value "$@"; ENVIRONMENT="$2"; shift ;;
    --project) need_value "$@"; PROJECT="$2"; shift ;;
    --region) need_value "$@"; REGION="$2"; shift ;;
    --function) need_value "$@"; FUNCTION="$2"; shift ;;
    --service-account) need_value "$@"; SERVICE_ACCOUNT="$2"; shift ;;
    --scheduler-service-account) need_value "$@"; SCHEDULER_SA="$2"; shift ;;
    --slack-secret) need_value "$@"; SLACK_SECRET="$2"; shift ;;
    --slack-channel) need_value "$@"; SLACK_CHANNEL="$2"; shift ;;
    --dataset-prefix) need_value "$@"; DATASET_PREFIX="$2"; shift ;;
    --heartbeat-secret) need_value "$@"; HEARTBEAT_SECRET="$2"; shift ;;
    --pagerduty-secret) need_value "$@"; PAGERDUTY_SECRET="$2"; shift ;;
    --alert-channel) need_value "$@"; ALERT_CHANNEL="$2"; shift ;;
    --job) need_value "$@"; JOB="$2"; shift ;;
    --schedule) need_value "$@"; SCHEDULE="$2"; shift ;;
    --source) need_value "$@"; SOURCE_DIR="$2"; shift ;;
    --signing-secret) need_value "$@"; SIGNING_SECRET="$2"; shift ;;
    --actions-function) need_value "$@"; ACTIONS_FUNCTION="$2"; shift ;;
    --actions-service-account) need_value "$@"; ACTIONS_SA="$2"; shift ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done

# The rule of core/environment.py (ENVIRONMENT_PATTERN): the names derived below fit Google Cloud's limits.
[[ "$ENVIRONMENT" =~ ^[a-z]([a-z0-9-]{0,10}[a-z0-9])?$ ]] ||
  die "--environment: 1 to 12 characters: lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen (e.g. staging)"
if [[ "$ENVIRONMENT" == production ]]; then
  [[ -z "$DATASET_PREFIX" ]] || die "--dataset-prefix needs --environment NAME (e.g. staging): a prefixed deploy is not production, and would share production's alert records, service account and absence alert"
  FUNCTION="${FUNCTION:-$PRODUCTION_FUNCTION}"
  SERVICE_ACCOUNT="${SERVICE_ACCOUNT:-pipeline-canary@${PROJECT}.iam.gserviceaccount.com}"
  SCHEDULER_SA="${SCHEDULER_SA:-pipeline-canary-scheduler@${PROJECT}.iam.gserviceaccount.com}"
  SLACK_SECRET="${SLACK_SECRET:-pipeline-canary-slack-bot-token}"
  SLACK_CHANNEL="${SLACK_CHANNEL:-$PRODUCTION_CHANNEL}"
  IAM_READER_ROLE_ID="pipelineCanaryRunIamReader"
  COLLECTION_SUFFIX=""
else
  [[ -n "$SLACK_CHANNEL" ]] || die "--environment ${ENVIRONMENT} needs --slack-channel: a channel of its own (production's is ${PRODUCTION_CHANNEL})"
  FUNCTION="${FUNCTION:-pipeline-canary-${ENVIRONMENT}}"
  SERVICE_ACCOUNT="${SERVICE_ACCOUNT:-pipeline-canary-${ENVIRONMENT}@${PROJECT}.iam.gserviceaccount.com}"
  SCHEDULER_SA="${SCHEDULER_SA:-canary-scheduler-${ENVIRONMENT}@${PROJECT}.iam.gserviceaccount.com}"
  SLACK_SECRET="${SLACK_SECRET:-pipeline-canary-${ENVIRONMENT}-slack-bot-token}"
  IAM_READER_ROLE_ID="pipelineCanaryRunIamReader_${ENVIRONMENT//-/_}" # a role id has no hyphens
  COLLECTION_SUFFIX="__${ENVIRONMENT}" # core/environment.py scoped_name
fi
JOB="${JOB:-$FUNCTION}"
METRIC="${FUNCTION}-runs"
[[ "$SERVICE_ACCOUNT" == *@*.iam.gserviceaccount.com ]] || die "--service-account: expected NAME@PROJECT.iam.gserviceaccount.com"
[[ "$SCHEDULER_SA" == *@*.gserviceaccount.com ]] || die "--scheduler-service-account: expected a service account email"
[[ "$SLACK_CHANNEL" != *,* ]] || die "--slack-channel: a channel name or id has no comma"
[[ "$DATASET_PREFIX" =~ ^[A-Za-z0-9_]*$ ]] || die "--dataset-prefix: letters, digits and underscores only (e.g. test_)"
[[ "$VERIFY_ATTEMPTS" =~ ^[1-9][0-9]*$ ]] || die "DEPLOY_VERIFY_ATTEMPTS: expected a positive integer"
[[ "$VERIFY_DELAY" =~ ^[0-9]+$ ]] || die "DEPLOY_VERIFY_DELAY: expected seconds"
[[ "$FUNCTION" =~ ^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$ ]] || die "--function: lowercase letters, digits and hyphens, at most 63 characters"
if [[ "$ENVIRONMENT" != production ]]; then
  # Refused, not warned: one shared name and a staging deploy rewrites what production relies on.
  for pair in "--function:${FUNCTION}:${PRODUCTION_FUNCTION}" "--job:${JOB}:${PRODUCTION_FUNCTION}" \
    "--service-account:${SERVICE_ACCOUNT%%@*}:pipeline-canary" "--scheduler-service-account:${SCHEDULER_SA%%@*}:pipeline-canary-scheduler" \
    "--slack-channel:${SLACK_CHANNEL#\#}:${PRODUCTION_CHANNEL#\#}"; do
    IFS=: read -r option given theirs <<<"$pair"
    [[ "${given,,}" != "${theirs,,}" ]] || die "${option} ${given} is production's; --environment ${ENVIRONMENT} needs its own"
  done
fi
ALERTS_COLLECTION="canary_alerts${COLLECTION_SUFFIX}"
SILENCES_COLLECTION="canary_silences${COLLECTION_SUFFIX}"
SLACK_ACTIONS_COLLECTION="canary_slack_actions${COLLECTION_SUFFIX}"
ACTIONS_FUNCTION="${ACTIONS_FUNCTION:-${FUNCTION}-slack-actions}"
if [[ "$ENVIRONMENT" == production ]]; then
  ACTIONS_SA="${ACTIONS_SA:-pipeline-canary-actions@${PROJECT}.iam.gserviceaccount.com}"
else
  ACTIONS_SA="${ACTIONS_SA:-canary-actions-${ENVIRONMENT}@${PROJECT}.iam.gserviceaccount.com}"
  [[ "${ACTIONS_SA%%@*}" != pipeline-canary-actions ]] || die "--actions-service-account ${ACTIONS_SA} is production's; --environment ${ENVIRONMENT} needs its own"
fi
SCHEDULER_MEMBER="serviceAccount:${SCHEDULER_SA}"
CANARY_MEMBER="serviceAccount:${SERVICE_ACCOUNT}"

export CLOUDSDK_CORE_DISABLE_PROMPTS=1
exec 3>&1 # the plan (and only the plan) goes to the original stdout, also from inside $(...)

# --- running, or only printing, commands ----------------------------------------------------------

quoted() {
  local out="" arg
  for arg in "$@"; do
    if [[ "$arg" =~ ^[A-Za-z0-9_./:=@,+%-]+$ ]]; then
      out+="$arg "
    else
      out+="'${arg//\'/\'\\\'\'}' "
    fi
  done
  printf '%s' "${out% }"
}

show() {
  if ((PLAN)); then
    printf '+ %s\n' "$(quoted "$@")" >&3
  else
    printf '+ %s\n' "$(quoted "$@")" >&2
  fi
}

note() {
  if ((PLAN)); then printf '# %s\n' "$*" >&3; else printf '== %s\n' "$*" >&2; fi
}

STEP="checks before anything changes"
# step TEXT: a heading; a command that fails after it names this step.
step() {
  STEP="$*"
  note "$@"
}

# step_failed STATUS CMD...: a failed command ends the deploy naming its step, the command and what to do.
step_failed() {
  local status="$1"
  shift
  cat >&2 <<EOF

!!! DEPLOY FAILED at step: ${STEP} !!!
This command exited with status ${status} (its own error is above):
  $(quoted "$@")
The steps before it are done; every step is idempotent: fix the cause, then run ./deploy.sh again.
EOF
  exit 1
}

run() {
  show "$@"
  ((PLAN)) && return 0
  local status=0
  "$@" || status=$?
  ((status == 0)) || step_failed "$status" "$@"
}

# value PLACEHOLDER CMD...: the output of a read-only command later steps need (PLACEHOLDER under --plan).
value() {
  local placeholder="$1" status=0
  shift
  show "$@"
  if ((PLAN)); then
    printf '%s' "$placeholder"
    return 0
  fi
  "$@" || status=$?
  ((status == 0)) || step_failed "$status" "$@"
}

# present CMD...: 0 when a describe command finds the resource, 1 when not, 2 under --plan (both branches shown).
present() {
  show "$@"
  ((PLAN)) && return 2
  "$@" >/dev/null 2>&1 || return 1
}

# --- checks before anything changes: the configuration, then the heartbeat secret -------------- ---------------------------------------

# Run even under --plan: it reads only the source. The interpreter is the project's own .venv when it has
# one: a system python3 without requirements.txt would fail on an import, not on canary.toml.
if [[ -z "$PYTHON" ]]; then
  PYTHON=python3
  [[ -x "${SOURCE_DIR}/.venv/bin/python" ]] && PYTHON="${SOURCE_DIR}/.venv/bin/python"
fi
note "configuration: ${SOURCE_DIR}/canary.toml checked against itself and this deploy's settings (main.py check-config, with ${PYTHON})"
IMPORT_PY='
import sys
sys.path.insert(0, sys.argv[1])
try:
    import main  # noqa: F401  (everything check-config needs)
except ImportError as error:
    print(getattr(error, "name", None) or error)
    sys.exit(1)
'
missing="$("$PYTHON" -c "$IMPORT_PY" "$SOURCE_DIR" 2>/dev/null)" || {
  echo "DEPLOY FAILED: PYTHON: ${PYTHON} cannot import ${missing:-the canary} (it lacks the packages of requirements.txt): create ${SOURCE_DIR}/.venv with them, or set DEPLOY_PYTHON to an interpreter that has them; canary.toml was not checked and nothing was changed" >&2
  exit 2
}
show env CANARY_BACKEND=gcp "CANARY_ENVIRONMENT=${ENVIRONMENT}" "CANARY_SLACK_CHANNEL=${SLACK_CHANNEL}" \
  "CANARY_DATASET_PREFIX=${DATASET_PREFIX}" "CANARY_FUNCTION=${FUNCTION}" \
  "$PYTHON" "${SOURCE_DIR}/main.py" check-config "${SOURCE_DIR}/canary.toml"
# The deployed function's settings, without the deployer's test endpoints (the gcp backend refuses those).
if ! env -u CANARY_SLACK_BASE_URL -u CANARY_BIGQUERY_ENDPOINT -u CANARY_RUN_ENDPOINT -u CANARY_MONITORING_ENDPOINT \
  -u CANARY_RESOURCE_MANAGER_ENDPOINT -u CANARY_ALLOW_TEST_ENDPOINTS -u FIRESTORE_EMULATOR_HOST -u PUBSUB_EMULATOR_HOST \
  -u CANARY_CONFIG -u CANARY_HEARTBEAT_URL \
  CANARY_BACKEND=gcp "CANARY_ENVIRONMENT=${ENVIRONMENT}" "CANARY_SLACK_CHANNEL=${SLACK_CHANNEL}" \
  "CANARY_DATASET_PREFIX=${DATASET_PREFIX}" "CANARY_FUNCTION=${FUNCTION}" \
  "$PYTHON" "${SOURCE_DIR}/main.py" check-config "${SOURCE_DIR}/canary.toml" >&2; then
  echo "DEPLOY FAILED: CONFIGURATION: fix canary.toml or the options named above; nothing was changed" >&2
  exit 2
fi

# --- checks before anything changes ---------------------------------------------------------------

# The canary would run with a malformed heartbeat URL (and raise "canary degraded" naming it); a deploy
# refuses it first. Checked with core/urls.py (standard library only), the value never printed.
CHECK_URL_PY='
import sys
sys.path.insert(0, sys.argv[1])
from core.urls import url_problem
value = sys.stdin.buffer.read().decode("utf-8", "replace")
problem = url_problem(value) if value else "is empty"
if problem:
    print(problem + (" (a trailing newline? store it with printf %s, not echo)" if value.endswith("\n") else ""))
    sys.exit(1)
'

check_heartbeat_secret() {
  local problem status=0
  show gcloud secrets versions access latest --secret="$HEARTBEAT_SECRET" --project="$PROJECT"
  if ((PLAN)); then
    note "(its value must be an http(s) URL: checked with python3 and core/urls.py, never printed)"
    return 0
  fi
  problem="$(gcloud secrets versions access latest --secret="$HEARTBEAT_SECRET" --project="$PROJECT" |
    python3 -c "$CHECK_URL_PY" "$SOURCE_DIR")" || status=$?
  ((status == 0)) || die "--heartbeat-secret ${HEARTBEAT_SECRET}: CANARY_HEARTBEAT_URL ${problem:-could not be read}; nothing was changed"
}

if [[ -n "$HEARTBEAT_SECRET" ]]; then
  note "the heartbeat URL in secret ${HEARTBEAT_SECRET} must parse before anything changes"
  check_heartbeat_secret
fi

# --- 0. APIs and service accounts -----------------------------------------------------------------

step "APIs the function, its trigger and its sources need"
run gcloud services enable cloudfunctions.googleapis.com run.googleapis.com cloudbuild.googleapis.com \
  artifactregistry.googleapis.com cloudscheduler.googleapis.com secretmanager.googleapis.com \
  firestore.googleapis.com bigquery.googleapis.com logging.googleapis.com monitoring.googleapis.com \
  pubsub.googleapis.com cloudresourcemanager.googleapis.com \
  --project="$PROJECT"

ensure_service_account() {
  local email="$1" title="$2" state=0
  present gcloud iam service-accounts describe "$email" --project="$PROJECT" || state=$?
  if ((state != 0)); then
    ((state == 2)) && note "only if it does not exist yet:"
    run gcloud iam service-accounts create "${email%%@*}" --display-name="$title" --project="$PROJECT"
  fi
}

step "service accounts: the canary's own (least privilege) and the one Cloud Scheduler calls it as"
ensure_service_account "$SERVICE_ACCOUNT" "pipeline-canary function (${ENVIRONMENT})"
ensure_service_account "$SCHEDULER_SA" "pipeline-canary Cloud Scheduler invoker (${ENVIRONMENT})"

# --- 1. least privilege for the canary ------------------------------------------------------------

step "least privilege: query jobs, read the pipeline's datasets${DATASET_PREFIX:+ (prefixed ${DATASET_PREFIX})}, read Cloud Run IAM policies, Firestore, one secret"
for role in "${PROJECT_ROLES[@]}"; do
  run gcloud projects add-iam-policy-binding "$PROJECT" --member="$CANARY_MEMBER" --role="$role" \
    --condition=None --quiet
done

step "a custom role with only ${IAM_READER_PERMISSIONS} (IAM policies, not the services' configuration)"
IAM_READER_ROLE="projects/${PROJECT}/roles/${IAM_READER_ROLE_ID}"
state=0
present gcloud iam roles describe "$IAM_READER_ROLE_ID" --project="$PROJECT" || state=$?
if ((state != 1)); then
  ((state == 2)) && note "if the role exists:"
  run gcloud iam roles update "$IAM_READER_ROLE_ID" --project="$PROJECT" --permissions="$IAM_READER_PERMISSIONS" --quiet
fi
if ((state != 0)); then
  ((state == 2)) && note "otherwise:"
  run gcloud iam roles create "$IAM_READER_ROLE_ID" --project="$PROJECT" --permissions="$IAM_READER_PERMISSIONS" \
    --title="pipeline-canary: read Cloud Run IAM policies" --stage=GA
fi
run gcloud projects add-iam-policy-binding "$PROJECT" --member="$CANARY_MEMBER" --role="$IAM_READER_ROLE" \
  --condition=None --quiet

step "remove broader roles that earlier deploys granted the canary"
for role in "${STALE_PROJECT_ROLES[@]}"; do
  held="$(value "" gcloud projects get-iam-policy "$PROJECT" --flatten=bindings[].members \
    --filter="bindings.role=${role} AND bindings.members=${CANARY_MEMBER}" --format='value(bindings.role)')"
  if ((PLAN)) || [[ -n "$held" ]]; then
    ((PLAN)) && note "if the list above shows ${role}:"
    run gcloud projects remove-iam-policy-binding "$PROJECT" --member="$CANARY_MEMBER" --role="$role" --all --quiet
  fi
done
for dataset in "${DATASETS[@]}"; do
  run bq add-iam-policy-binding --dataset --member="$CANARY_MEMBER" --role=roles/bigquery.dataViewer \
    "${PROJECT}:${DATASET_PREFIX}${dataset}"
done
SECRETS="CANARY_SLACK_BOT_TOKEN=${SLACK_SECRET}:latest"
run gcloud secrets add-iam-policy-binding "$SLACK_SECRET" --member="$CANARY_MEMBER" \
  --role=roles/secretmanager.secretAccessor --project="$PROJECT"
if [[ -n "$HEARTBEAT_SECRET" ]]; then
  SECRETS+=",CANARY_HEARTBEAT_URL=${HEARTBEAT_SECRET}:latest"
  run gcloud secrets add-iam-policy-binding "$HEARTBEAT_SECRET" --member="$CANARY_MEMBER" \
    --role=roles/secretmanager.secretAccessor --project="$PROJECT"
fi
# Escalation (issue 23): the PagerDuty Events API v2 routing key, only ever from Secret Manager.
if [[ -n "$PAGERDUTY_SECRET" ]]; then
  SECRETS+=",CANARY_PAGERDUTY_ROUTING_KEY=${PAGERDUTY_SECRET}:latest"
  run gcloud secrets add-iam-policy-binding "$PAGERDUTY_SECRET" --member="$CANARY_MEMBER" \
    --role=roles/secretmanager.secretAccessor --project="$PROJECT"
fi

# --- 2. the function ------------------------------------------------------------------------------

step "the function: private (no unauthenticated calls), env vars and secrets UPDATED (never --set-*), test endpoints removed"
run gcloud functions deploy "$FUNCTION" --gen2 --project="$PROJECT" --region="$REGION" \
  --runtime=python312 --source="$SOURCE_DIR" --entry-point=run_canary --trigger-http \
  --no-allow-unauthenticated --service-account="$SERVICE_ACCOUNT" \
  --memory=512Mi --timeout=300s --max-instances=2 \
  --remove-env-vars="$TEST_ENDPOINT_VARS" \
  --update-env-vars="CANARY_BACKEND=gcp,CANARY_GCP_PROJECT=${PROJECT},CANARY_SLACK_CHANNEL=${SLACK_CHANNEL},CANARY_DATASET_PREFIX=${DATASET_PREFIX},CANARY_ENVIRONMENT=${ENVIRONMENT},CANARY_FUNCTION=${FUNCTION}" \
  --update-secrets="$SECRETS"

SERVICE_PATH="$(value "projects/${PROJECT}/locations/${REGION}/services/${FUNCTION}" \
  gcloud functions describe "$FUNCTION" --gen2 --region="$REGION" --project="$PROJECT" \
  --format='value(serviceConfig.service)')"
SERVICE="${SERVICE_PATH##*/}"
URL="$(value "https://${FUNCTION}-PLAN.a.run.app" \
  gcloud functions describe "$FUNCTION" --gen2 --region="$REGION" --project="$PROJECT" \
  --format='value(serviceConfig.uri)')"
[[ -n "$SERVICE" && "$URL" == https://* ]] || die "could not read the function's Cloud Run service and URL"

# --- 3. the invoker binding, then VERIFY it ---------------------------------------------------------

step "Cloud Scheduler's service account may invoke the function's Cloud Run service"
run gcloud run services add-iam-policy-binding "$SERVICE" --region="$REGION" --project="$PROJECT" \
  --member="$SCHEDULER_MEMBER" --role=roles/run.invoker

# Exit status: 0 bound; 1 missing (or only under a condition); 3 not JSON; 4 public.
VERIFY_PY='
import json, sys
member = sys.argv[1]
try:
    policy = json.load(sys.stdin)
except ValueError as error:
    print(f"the policy is not JSON ({error})", file=sys.stderr)
    sys.exit(3)
bindings = policy.get("bindings", []) if isinstance(policy, dict) else []
invokers = [b for b in bindings if isinstance(b, dict) and b.get("role") == "roles/run.invoker"]
public = sorted({m for b in invokers for m in b.get("members", []) if m in ("allUsers", "allAuthenticatedUsers")})
if public:
    print(f"roles/run.invoker is granted to {public}: the canary must not be public", file=sys.stderr)
    sys.exit(4)
held = [b for b in invokers if member in b.get("members", [])]
if not [b for b in held if not b.get("condition")]:
    how = "only under a condition" if held else "not at all"
    print(f"{member} holds roles/run.invoker {how}", file=sys.stderr)
    sys.exit(1)
print(f"verified: {member} holds roles/run.invoker")
'

verify_invoker() {
  local attempt policy status
  for ((attempt = 1; attempt <= VERIFY_ATTEMPTS; attempt++)); do
    policy="$(gcloud run services get-iam-policy "$SERVICE" --region="$REGION" --project="$PROJECT" --format=json)"
    status=0
    python3 -c "$VERIFY_PY" "$SCHEDULER_MEMBER" <<<"$policy" || status=$?
    ((status == 0)) && return 0
    ((status == 1 && attempt < VERIFY_ATTEMPTS)) || break
    note "binding not visible yet (IAM propagates in seconds); checking again in ${VERIFY_DELAY}s"
    sleep "$VERIFY_DELAY"
  done
  cat >&2 <<EOF

!!! DEPLOY FAILED: IAM VERIFICATION !!!
Cloud Run service '${SERVICE}' (${REGION}, ${PROJECT}) does not let
  ${SCHEDULER_MEMBER}
invoke it unconditionally (or is public). Cloud Scheduler's calls would be rejected and the canary
would go silent -- the same failure that stopped the orchestrators for 7 days (session 205).
The Cloud Scheduler job was NOT created or updated. Fix, then run ./deploy.sh again:
  gcloud run services add-iam-policy-binding ${SERVICE} --region=${REGION} --project=${PROJECT} \\
    --member=${SCHEDULER_MEMBER} --role=roles/run.invoker
EOF
  exit 1
}

step "verify the binding by parsing the service's IAM policy as JSON (fails the deploy if missing)"
show gcloud run services get-iam-policy "$SERVICE" --region="$REGION" --project="$PROJECT" --format=json
((PLAN)) && note "(parsed with python3: ${SCHEDULER_MEMBER} must hold roles/run.invoker without a condition; no allUsers)"
((PLAN)) || verify_invoker

# --- 4. the schedule ----------------------------------------------------------------------------

SCHEDULER_COMMON=(
  --location="$REGION" --project="$PROJECT"
  --schedule="$SCHEDULE" --time-zone="$TIME_ZONE"
  --uri="$URL" --http-method=POST --message-body="$SCHEDULER_BODY"
  --oidc-service-account-email="$SCHEDULER_SA" --oidc-token-audience="$URL"
  --attempt-deadline=300s
  # 503 (a failed delivery) is retried; dedup makes that safe. Retries end well before the next run.
  --max-retry-attempts=3 --min-backoff=30s --max-backoff=300s --max-doublings=2 --max-retry-duration=1200s
  --description="${FUNCTION} (${ENVIRONMENT}): checks the NBA props pipeline every 30 minutes (deploy.sh)"
)
step "the Cloud Scheduler job: POST every 30 minutes with an OIDC token for the function's URL"
state=0
present gcloud scheduler jobs describe "$JOB" --location="$REGION" --project="$PROJECT" || state=$?
if ((state != 1)); then
  ((state == 2)) && note "if the job exists:"
  run gcloud scheduler jobs update http "$JOB" "${SCHEDULER_COMMON[@]}" --update-headers=Content-Type=application/json
fi
if ((state != 0)); then
  ((state == 2)) && note "otherwise:"
  run gcloud scheduler jobs create http "$JOB" "${SCHEDULER_COMMON[@]}" --headers=Content-Type=application/json
fi

# --- 5. Firestore TTL: resolved alert records expire ------------------------------------------------

step "Firestore TTL on ${ALERTS_COLLECTION}.expire_at (resolved incidents' records expire)"
run gcloud firestore fields ttls update expire_at --collection-group="$ALERTS_COLLECTION" --enable-ttl \
  --project="$PROJECT" --async
step "Firestore TTL on ${SILENCES_COLLECTION}.expires_at (expired silences are deleted)"
run gcloud firestore fields ttls update expires_at --collection-group="$SILENCES_COLLECTION" --enable-ttl \
  --project="$PROJECT" --async

# --- 6. watching the watcher: an alert when the run log line stops ----------------------------------

LOG_FILTER="resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${SERVICE}\" AND jsonPayload.event=\"canary_run\" AND jsonPayload.dry_run=false"
step "a log-based metric counting the per-run log line (dry runs excluded)"
state=0
present gcloud logging metrics describe "$METRIC" --project="$PROJECT" || state=$?
if ((state != 1)); then
  ((state == 2)) && note "if the metric exists:"
  run gcloud logging metrics update "$METRIC" --project="$PROJECT" --log-filter="$LOG_FILTER" \
    --description="${FUNCTION} (${ENVIRONMENT}) runs (one canary_run log line per run)"
fi
if ((state != 0)); then
  ((state == 2)) && note "otherwise:"
  run gcloud logging metrics create "$METRIC" --project="$PROJECT" --log-filter="$LOG_FILTER" \
    --description="${FUNCTION} (${ENVIRONMENT}) runs (one canary_run log line per run)"
fi

WORK_DIR="${DEPLOY_WORK_DIR:-}"
if [[ -z "$WORK_DIR" ]]; then
  WORK_DIR="$(mktemp -d)"
  trap 'rm -rf "$WORK_DIR"' EXIT
fi
POLICY_FILE="${WORK_DIR}/${FUNCTION}-absence-policy.json"
POLICY_NAME="${FUNCTION}: no run for ${ABSENCE_MINUTES} minutes"
python3 - "$POLICY_FILE" "$POLICY_NAME" "$METRIC" "$((ABSENCE_MINUTES * 60))" "$ALERT_CHANNEL" <<'EOF'
import json, sys
path, name, metric, seconds, channel = sys.argv[1:6]
policy = {
    "displayName": name,
    "documentation": {
        "mimeType": "text/markdown",
        "content": f"{name.split(':')[0]} logged no completed run (`jsonPayload.event=\"canary_run\"`) for "
        f"{int(seconds) // 60} minutes: the watcher is not watching. See docs/runbook.md: "
        "'The canary itself is silent'.",
    },
    "combiner": "OR",
    "conditions": [{
        "displayName": f"no canary_run log line for {int(seconds) // 60} min",
        "conditionAbsent": {
            "filter": f'metric.type="logging.googleapis.com/user/{metric}" AND resource.type="cloud_run_revision"',
            "duration": f"{seconds}s",
            "aggregations": [{"alignmentPeriod": "600s", "perSeriesAligner": "ALIGN_SUM", "crossSeriesReducer": "REDUCE_SUM"}],
            "trigger": {"count": 1},
        },
    }],
    "alertStrategy": {"autoClose": "86400s"},
    "notificationChannels": [channel] if channel else [],
    "enabled": True,
}
with open(path, "w", encoding="utf-8") as out:
    json.dump(policy, out, indent=2)
    out.write("\n")
EOF
step "an alert policy on the ABSENCE of that metric for ${ABSENCE_MINUTES} minutes, from ${POLICY_FILE}:"
if ((PLAN)); then sed 's/^/#   /' "$POLICY_FILE" >&3; fi
[[ -n "$ALERT_CHANNEL" ]] || note "WARNING: no --alert-channel: the absence alert opens incidents but notifies nobody"
EXISTING_POLICY="$(value "" gcloud alpha monitoring policies list --project="$PROJECT" \
  --filter="displayName=\"${POLICY_NAME}\"" --format='value(name)' --limit=1)"
if ((PLAN)); then
  note "if a policy with that display name exists (its name from the list above):"
  run gcloud alpha monitoring policies update "projects/${PROJECT}/alertPolicies/POLICY_ID" \
    --policy-from-file="$POLICY_FILE" --project="$PROJECT"
  note "otherwise:"
fi
if [[ -n "$EXISTING_POLICY" ]]; then
  run gcloud alpha monitoring policies update "$EXISTING_POLICY" --policy-from-file="$POLICY_FILE" --project="$PROJECT"
else
  run gcloud alpha monitoring policies create --policy-from-file="$POLICY_FILE" --project="$PROJECT"
fi

# --- 6b. the alert buttons: slack_actions, its own function (issue 22; docs/slack.md) ---------------
# The only public function: Slack cannot send an identity token, so every request is authenticated by
# its Slack signature (entry/slack_actions.py). It runs as its own account, which may use Firestore (the
# alert records, silences and acknowledgements: Firestore IAM has no per-collection grant) and read the
# two Slack secrets, and nothing else: no BigQuery, Cloud Run, Pub/Sub or Monitoring.

deploy_slack_actions() {
  local member actions_url
  [[ "$ACTIONS_SA" == *@*.iam.gserviceaccount.com ]] || die "--actions-service-account: expected NAME@PROJECT.iam.gserviceaccount.com"
  member="serviceAccount:${ACTIONS_SA}"
  note "slack_actions: its own service account (Firestore and the two Slack secrets only)"
  ensure_service_account "$ACTIONS_SA" "pipeline-canary Slack buttons"
  run gcloud projects add-iam-policy-binding "$PROJECT" --member="$member" --role=roles/datastore.user \
    --condition=None --quiet
  for secret in "$SLACK_SECRET" "$SIGNING_SECRET"; do
    run gcloud secrets add-iam-policy-binding "$secret" --member="$member" \
      --role=roles/secretmanager.secretAccessor --project="$PROJECT"
  done
  note "slack_actions is public (--allow-unauthenticated): Slack signs each click; unsigned requests get 401"
  run gcloud functions deploy "$ACTIONS_FUNCTION" --gen2 --project="$PROJECT" --region="$REGION" \
    --runtime=python312 --source="$SOURCE_DIR" --entry-point=slack_actions --trigger-http \
    --allow-unauthenticated --service-account="$ACTIONS_SA" \
    --memory=512Mi --timeout=10s --max-instances=2 \
    --remove-env-vars="$TEST_ENDPOINT_VARS" \
    --update-env-vars="CANARY_BACKEND=gcp,CANARY_ENVIRONMENT=${ENVIRONMENT},CANARY_FUNCTION=${FUNCTION},CANARY_GCP_PROJECT=${PROJECT},CANARY_SLACK_CHANNEL=${SLACK_CHANNEL},CANARY_DATASET_PREFIX=${DATASET_PREFIX}" \
    --update-secrets="CANARY_SLACK_BOT_TOKEN=${SLACK_SECRET}:latest,CANARY_SLACK_SIGNING_SECRET=${SIGNING_SECRET}:latest"
  note "Firestore TTL on ${SLACK_ACTIONS_COLLECTION}.expire_at (a handled click's key is kept a day, then deleted)"
  run gcloud firestore fields ttls update expire_at --collection-group="$SLACK_ACTIONS_COLLECTION" --enable-ttl \
    --project="$PROJECT" --async
  actions_url="$(value "https://${ACTIONS_FUNCTION}-PLAN.a.run.app" \
    gcloud functions describe "$ACTIONS_FUNCTION" --gen2 --region="$REGION" --project="$PROJECT" \
    --format='value(serviceConfig.uri)')"
  note "the Slack app's interactivity request URL is ${actions_url}: python3 main.py slack-manifest --url ${actions_url}"
}

if [[ -n "$SIGNING_SECRET" ]]; then
  deploy_slack_actions
else
  note "no --signing-secret: the alert buttons' function (slack_actions) is not deployed (docs/slack.md)"
fi

# --- 7. optional smoke call -----------------------------------------------------------------------

if ((SMOKE)); then
  step "smoke: a dry run through the real URL with your identity token (sends nothing, writes no state)"
  TOKEN="$(value "IDENTITY_TOKEN" gcloud auth print-identity-token)"
  # The token itself is never printed: the plan shows how to get one instead.
  # shellcheck disable=SC2016  # the $(...) is text for the reader, not to expand
  show curl -fsS --max-time 300 -X POST -H 'Authorization: Bearer $(gcloud auth print-identity-token)' \
    -H 'Content-Type: application/json' -d '{"dry_run": true}' "$URL"
  if ((!PLAN)); then
    curl -fsS --max-time 300 -X POST -H "Authorization: Bearer ${TOKEN}" -H 'Content-Type: application/json' \
      -d '{"dry_run": true}' "$URL" | python3 -c '
import json, sys
report = json.load(sys.stdin)
print("smoke run", report["run_id"], {m["name"]: m["outcome"] for m in report["monitors"]})
errors = [m["name"] for m in report["monitors"] if m["outcome"] == "error"]
# A bad optional setting does not fail a run (it raises "canary degraded"); it fails the smoke test.
settings = [f["key"].get("setting") for f in report.get("findings", []) if f["key"].get("problem") == "invalid_setting"]
if errors or settings:
    sys.exit(f"smoke: monitors errored: {errors}; invalid settings: {settings}")
'
  fi
fi

if ((PLAN)); then
  note "plan only: nothing was run"
else
  note "deployed ${FUNCTION} (${URL}); Cloud Scheduler job ${JOB} calls it as ${SCHEDULER_SA}"
fi
