# The deployment environments cd.yml names. Each accepts deployments only from its own refs,
# and an environment with reviewers (prod) waits for one of them before a job starts: the
# production approval the design asks for. Admins cannot skip either rule.
locals {
  _reviewer_users = toset(flatten([for env in values(var.environments) : env.reviewers.users]))
  _reviewer_teams = toset(flatten([for env in values(var.environments) : env.reviewers.teams]))
  _deploy_policies = merge([
    for env in keys(var.environments) : merge(
      { for pattern in local._deploy_refs[env].branches : "${env} branch ${pattern}" => { environment = env, branch = pattern, tag = null } },
      { for pattern in local._deploy_refs[env].tags : "${env} tag ${pattern}" => { environment = env, branch = null, tag = pattern } },
    )
  ]...)
}

data "github_user" "reviewer" {
  for_each = local._reviewer_users
  username = each.value
}

data "github_team" "reviewer" {
  for_each = local._reviewer_teams
  slug     = each.value
}

resource "github_repository_environment" "environment" {
  for_each            = var.environments
  repository          = local._repository_name
  environment         = each.key
  can_admins_bypass   = false
  prevent_self_review = true
  dynamic "reviewers" {
    for_each = length(each.value.reviewers.users) + length(each.value.reviewers.teams) > 0 ? [each.value.reviewers] : []
    content {
      teams = [for slug in reviewers.value.teams : tonumber(data.github_team.reviewer[slug].id)]
      users = [for login in reviewers.value.users : tonumber(data.github_user.reviewer[login].id)]
    }
  }
  deployment_branch_policy {
    protected_branches     = false
    custom_branch_policies = true
  }
}

resource "github_repository_environment_deployment_policy" "ref" {
  for_each       = local._deploy_policies
  repository     = local._repository_name
  environment    = github_repository_environment.environment[each.value.environment].environment
  branch_pattern = each.value.branch
  tag_pattern    = each.value.tag
}
