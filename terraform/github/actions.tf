# The GitHub Actions variables the workflows read (`vars.X` in .github/workflows), set from
# this root's inputs: repository-wide ones, and per environment the Google identity and URLs
# of that environment's project. An input left null sets no variable; tests/terraform checks
# that every variable a workflow reads is set here and nothing else is.
locals {
  _repository_variables = {
    ALERT_EMAIL         = var.alert_email
    DAGGER_RUNNER_HOST  = var.dagger.runner_host
    DAGGER_RUNS_ON      = var.dagger.runs_on
    GCP_BILLING_ACCOUNT = var.billing_account
    SECURITY_CONTACTS   = var.security_contacts
  }
  _environment_variables = merge([
    for env, settings in var.environments : {
      for name, value in {
        GATEWAY_URL                    = settings.gateway_url
        GCP_DEPLOY_SERVICE_ACCOUNT     = settings.deploy_service_account
        GCP_WORKLOAD_IDENTITY_PROVIDER = settings.workload_identity_provider
      } : "${env}/${name}" => { environment = env, name = name, value = value } if value != null
    }
  ]...)
}

resource "github_actions_variable" "repository" {
  for_each      = { for name, value in local._repository_variables : name => value if value != null }
  repository    = local._repository_name
  variable_name = each.key
  value         = each.value
}

resource "github_actions_environment_variable" "environment" {
  for_each      = local._environment_variables
  repository    = local._repository_name
  environment   = github_repository_environment.environment[each.value.environment].environment
  variable_name = each.value.name
  value         = each.value.value
}
