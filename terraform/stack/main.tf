# Values every file of the stack shares: the identities and what all services get.
locals {
  _services = var.settings.services
  _accounts = {
    api_gateway = local._services["api-gateway"].name
    deployer    = "clarity-deployer"
    ml_service  = local._services["ml-service"].name
    pubsub_push = "clarity-pubsub-push"
    tf_apply    = "clarity-terraform-apply"
    tf_plan     = "clarity-terraform-plan"
  }
  # Emails are derived from the account ids so they are known at plan time; the
  # modules that grant roles to them depend on module.iam for ordering.
  _members = {
    for key, account_id in local._accounts : key => "serviceAccount:${account_id}@${var.settings.project_id}.iam.gserviceaccount.com"
  }
  _common_env = {
    ENVIRONMENT          = var.settings.environment
    GOOGLE_CLOUD_PROJECT = var.settings.project_id
  }
  # Only the gateway can be public, and only where settings.json relaxes it.
  _public_invokers = var.settings.allow_unauthenticated ? { public = "allUsers" } : {}
  # Uptime checks authenticate to the private services as the monitoring agent.
  _uptime_check_agent = "serviceAccount:service-${data.google_project.project.number}@gcp-sa-monitoring-notification.iam.gserviceaccount.com"
}
