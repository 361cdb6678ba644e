output "environments" {
  description = "The deployment environments, each with the refs it accepts deployments from."
  value = {
    for env, environment in github_repository_environment.environment : env => {
      branches = local._deploy_refs[env].branches
      name     = environment.environment
      tags     = local._deploy_refs[env].tags
    }
  }
}

output "repository" {
  description = "The repository this root governs, OWNER/NAME (from the environments' settings.json)."
  value       = "${local._owner}/${local._repository_name}"
}

output "rulesets" {
  description = "Ruleset ids, by resource name."
  value       = { for name, ruleset in local._rulesets : name => ruleset.ruleset_id }
}

output "variables" {
  description = "Names of the GitHub Actions variables set: repository-wide, and by environment."
  value = {
    environments = { for env in keys(var.environments) : env => sort([for key, variable in local._environment_variables : variable.name if variable.environment == env]) }
    repository   = sort(keys(github_actions_variable.repository))
  }
}
