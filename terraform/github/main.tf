# The repository this root governs and the environments it deploys to, read from the files
# the Google side reads: every environment's settings.json names the same repository
# (github.repository), which is the one its workload identity pool trusts.
locals {
  _settings = {
    for env in local._environment_names : env => jsondecode(file("${path.module}/../environments/${env}/settings.json"))
  }
  # one() refuses settings files that disagree about the repository.
  _repository        = split("/", one(distinct([for settings in local._settings : settings.github.repository])))
  _environment_names = ["dev", "prod", "staging"]
  _owner             = local._repository[0]
  _repository_name   = local._repository[1]
  # The refs each environment accepts deployments from: the refs cd.yml deploys from
  # (develop -> dev, main -> staging, release/X.Y.Z and vX.Y.Z -> prod). A release's run also
  # enters staging, read-only, to run the E2E suite against it before prod's reviewers are
  # asked (cd.yml verify-staging: staging's identity and gateway URL are its variables).
  # Patterns are GitHub's deployment policy globs, in which * does not cross a slash.
  _deploy_refs = {
    dev     = { branches = ["develop"], tags = [] }
    prod    = { branches = ["release/*"], tags = ["v*"] }
    staging = { branches = ["main", "release/**/*"], tags = ["v*"] }
  }
}
