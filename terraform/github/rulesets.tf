# Branch and tag rules as rulesets (the successor of branch protection and of the retired tag
# protection). Bypass actors are repository roles by id: 2 is maintain, 5 is admin.
locals {
  # GitHub Actions' app id: a required check must come from Actions, so no other app can
  # satisfy it by naming a check run the same.
  _actions_app_id = 15368
  # The check runs every pull request gets, named as GitHub names them: the job's `name:`
  # (else its id) of each job the workflows run on pull_request. tests/terraform checks this
  # list against .github/workflows.
  _required_checks = ["CodeQL (Python)", "dagger call ci"]
  _release_managers = {
    maintain = 2
    admin    = 5
  }
  _integration_branches = ["refs/heads/main", "refs/heads/develop"]
  # ** alone matches one path segment in ruleset patterns; **/* matches any depth, as cd.yml's
  # release/** trigger does.
  _release_branches = ["refs/heads/release/**/*"]
  _release_tags     = ["refs/tags/v*"]
}

# main, develop and the release branches change only through reviewed pull requests whose
# checks passed on the branch as it will be merged, and never lose history.
resource "github_repository_ruleset" "protected_branches" {
  name        = "protected branches: reviewed, green, linear"
  repository  = local._repository_name
  target      = "branch"
  enforcement = "active"
  conditions {
    ref_name {
      include = concat(local._integration_branches, local._release_branches)
      exclude = []
    }
  }
  rules {
    deletion                = true
    non_fast_forward        = true
    required_linear_history = true
    pull_request {
      dismiss_stale_reviews_on_push     = true
      require_code_owner_review         = false
      require_last_push_approval        = true
      required_approving_review_count   = var.required_approvals
      required_review_thread_resolution = true
    }
    required_status_checks {
      # A release branch is cut from a commit that already passed them.
      do_not_enforce_on_create             = true
      strict_required_status_checks_policy = true
      dynamic "required_check" {
        for_each = toset(local._required_checks)
        content {
          context        = required_check.value
          integration_id = local._actions_app_id
        }
      }
    }
    required_code_scanning {
      required_code_scanning_tool {
        tool                      = "CodeQL"
        alerts_threshold          = "errors"
        security_alerts_threshold = "high_or_higher"
      }
    }
  }
}

# Pushing release/X.Y.Z starts a production deploy (after the prod reviewers approve), so
# only maintainers and admins may create one.
resource "github_repository_ruleset" "release_branch_creation" {
  name        = "release branches: cut by maintainers"
  repository  = local._repository_name
  target      = "branch"
  enforcement = "active"
  dynamic "bypass_actors" {
    for_each = local._release_managers
    content {
      actor_id    = bypass_actors.value
      actor_type  = "RepositoryRole"
      bypass_mode = "always"
    }
  }
  conditions {
    ref_name {
      include = local._release_branches
      exclude = []
    }
  }
  rules {
    creation = true
  }
}

# A release tag vX.Y.Z deploys to prod too: maintainers and admins create them...
resource "github_repository_ruleset" "release_tag_creation" {
  name        = "release tags: created by maintainers"
  repository  = local._repository_name
  target      = "tag"
  enforcement = "active"
  dynamic "bypass_actors" {
    for_each = local._release_managers
    content {
      actor_id    = bypass_actors.value
      actor_type  = "RepositoryRole"
      bypass_mode = "always"
    }
  }
  conditions {
    ref_name {
      include = local._release_tags
      exclude = []
    }
  }
  rules {
    creation = true
  }
}

# ...and nobody moves or deletes one: `rollback --to VERSION` and the release notes rely on
# a version naming one commit forever.
resource "github_repository_ruleset" "release_tags" {
  name        = "release tags: immutable"
  repository  = local._repository_name
  target      = "tag"
  enforcement = "active"
  conditions {
    ref_name {
      include = local._release_tags
      exclude = []
    }
  }
  rules {
    deletion         = true
    non_fast_forward = true
    update           = true
  }
}

locals {
  _rulesets = {
    protected_branches      = github_repository_ruleset.protected_branches
    release_branch_creation = github_repository_ruleset.release_branch_creation
    release_tag_creation    = github_repository_ruleset.release_tag_creation
    release_tags            = github_repository_ruleset.release_tags
  }
}
