# The two Cloud Run services: runtime, scaling and who may invoke them. The delivery
# pipeline owns their images, revisions and traffic from the first rollout on.

locals {
  # The audience the delivery pipeline's probes mint ID tokens for: one per service, stable
  # across its URLs (service and tags) and unique per project, under the reserved .internal
  # top-level domain so it can never be a real host.
  _audiences = {
    for key, service in local._services : key => "https://${service.name}.${var.settings.project_id}.clarity.internal"
  }
  # settings.json `services.<svc>` in the module's terms.
  _scaling = {
    for key, service in local._services : key => {
      concurrency   = service.concurrency
      max_instances = service.max_instances
      min_instances = service.min_instances
    }
  }
}

module "ml_service" {
  source                = "../modules/cloud-run-service"
  project_id            = var.settings.project_id
  location              = var.settings.region
  name                  = local._services["ml-service"].name
  service_account       = module.iam.emails[local._accounts.ml_service]
  deletion_protection   = var.settings.deletion_protection
  allow_unauthenticated = false
  labels                = var.labels
  container = {
    cpu    = local._services["ml-service"].cpu
    memory = local._services["ml-service"].memory
    env    = local._common_env
    secret_env = {
      GEMINI_API_KEY = { secret = module.secrets.names["gemini-api-key"] }
    }
  }
  scaling          = local._scaling["ml-service"]
  custom_audiences = [local._audiences["ml-service"]]
  # Never public, whatever allow_unauthenticated says: requests carry the gateway's
  # identity or the push identity's; the deployer probes candidates it already
  # controls through run.developer, and uptime checks call only /health.
  invokers = {
    api-gateway   = local._members.api_gateway
    deployer      = local._members.deployer
    pubsub-push   = local._members.pubsub_push
    uptime-checks = local._uptime_check_agent
  }
}

module "api_gateway" {
  source                = "../modules/cloud-run-service"
  project_id            = var.settings.project_id
  location              = var.settings.region
  name                  = local._services["api-gateway"].name
  service_account       = module.iam.emails[local._accounts.api_gateway]
  deletion_protection   = var.settings.deletion_protection
  allow_unauthenticated = var.settings.allow_unauthenticated
  labels                = var.labels
  container = {
    cpu    = local._services["api-gateway"].cpu
    memory = local._services["api-gateway"].memory
    env = merge(local._common_env, {
      ML_SERVICE_URL = module.ml_service.uri
    })
  }
  scaling          = local._scaling["api-gateway"]
  custom_audiences = [local._audiences["api-gateway"]]
  invokers = merge(local._public_invokers, {
    deployer = local._members.deployer
    # The ingestion dead letters are pushed to the gateway, which marks their batches failed.
    pubsub-push   = local._members.pubsub_push
    uptime-checks = local._uptime_check_agent
  })
}
