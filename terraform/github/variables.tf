variable "alert_email" {
  description = "Address that receives monitoring alerts (repository variable ALERT_EMAIL, which cd.yml passes to staging and prod as --alert-email)."
  type        = string
  nullable    = false
  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alert_email))
    error_message = "alert_email must be an email address."
  }
}

variable "billing_account" {
  description = "Billing account id the environments' Terraform runs take (repository variable GCP_BILLING_ACCOUNT, XXXXXX-XXXXXX-XXXXXX)."
  type        = string
  nullable    = false
  validation {
    condition     = can(regex("^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$", var.billing_account))
    error_message = "billing_account must look like 012345-6789AB-CDEF01 (`gcloud billing accounts list`)."
  }
}

variable "dagger" {
  description = "A shared Dagger engine for runs of protected refs (README: CI/CD, shared engine): `runner_host` becomes DAGGER_RUNNER_HOST (the engine's address, e.g. unix:///run/dagger/engine.sock on the runner pool beside it) and `runs_on` DAGGER_RUNS_ON (that runner pool's label). Null leaves the variable unset: GitHub-hosted runners, each with its own engine."
  type = object({
    runner_host = optional(string)
    runs_on     = optional(string)
  })
  default  = {}
  nullable = false
  validation {
    condition     = var.dagger.runner_host == null || can(regex("^(unix|tcp|kube-pod|docker-container|podman-container|ssh)://.+", coalesce(var.dagger.runner_host, "-")))
    error_message = "dagger.runner_host must be an engine address Dagger understands: unix://, tcp://, kube-pod://, docker-container://, podman-container:// or ssh://."
  }
  validation {
    condition     = (var.dagger.runner_host == null) == (var.dagger.runs_on == null)
    error_message = "dagger.runner_host and dagger.runs_on go together: an engine address is reachable only from the runner pool beside it."
  }
}

variable "environments" {
  description = "The deployment environments dev, staging and prod: the Google identity each deploys with (`terraform output` of terraform/environments/<env>), the gateway URL the journey (dev, staging) and DAST (staging) run against, and the users (logins) and teams (slugs) whose approval a deployment waits for."
  type = map(object({
    deploy_service_account     = string
    gateway_url                = optional(string)
    workload_identity_provider = string
    reviewers = optional(object({
      teams = optional(list(string), [])
      users = optional(list(string), [])
    }), {})
  }))
  nullable = false
  validation {
    condition     = toset(keys(var.environments)) == toset(["dev", "prod", "staging"])
    error_message = "environments must describe exactly dev, staging and prod, the environments cd.yml deploys to."
  }
  validation {
    condition     = alltrue([for env in values(var.environments) : can(regex("^projects/[0-9]+/locations/global/workloadIdentityPools/[a-z0-9-]+/providers/[a-z0-9-]+$", env.workload_identity_provider))])
    error_message = "Each workload_identity_provider must be the provider's full name, projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER (terraform output workload_identity_provider)."
  }
  validation {
    condition     = alltrue([for env in values(var.environments) : can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]+\\.iam\\.gserviceaccount\\.com$", env.deploy_service_account))])
    error_message = "Each deploy_service_account must be a service account email, ACCOUNT@PROJECT.iam.gserviceaccount.com (terraform output service_accounts, clarity-deployer)."
  }
  validation {
    condition     = alltrue([for env in values(var.environments) : env.gateway_url == null || startswith(coalesce(env.gateway_url, "-"), "https://")])
    error_message = "A gateway_url must be an https:// URL (terraform output services, api-gateway)."
  }
  validation {
    condition     = try(length(var.environments["prod"].reviewers.users) + length(var.environments["prod"].reviewers.teams) > 0, false)
    error_message = "prod needs at least one reviewer (a user login or a team slug): its reviewers are the production approval."
  }
  validation {
    condition     = alltrue([for env in values(var.environments) : length(env.reviewers.users) + length(env.reviewers.teams) <= 6])
    error_message = "GitHub allows at most 6 reviewers (users and teams together) per environment."
  }
}

variable "required_approvals" {
  description = "Approving reviews a pull request into main, develop or a release branch needs (from someone other than its author and the last pusher)."
  type        = number
  default     = 1
  nullable    = false
  validation {
    condition     = var.required_approvals >= 1 && var.required_approvals <= 10 && floor(var.required_approvals) == var.required_approvals
    error_message = "required_approvals must be a whole number from 1 to 10: every change to a protected branch is reviewed."
  }
}

variable "security_contacts" {
  description = "Who the daily security workflow mentions in its issue about fixable HIGH/CRITICAL image vulnerabilities (repository variable SECURITY_CONTACTS), e.g. \"@clarity-loop/security\"; null mentions nobody (watchers are still notified)."
  type        = string
  default     = null
  validation {
    condition     = var.security_contacts == null || can(regex("^@[A-Za-z0-9][A-Za-z0-9-]*(/[A-Za-z0-9._-]+)?( @[A-Za-z0-9][A-Za-z0-9-]*(/[A-Za-z0-9._-]+)?)*$", coalesce(var.security_contacts, "-")))
    error_message = "security_contacts must be @-mentions separated by spaces: @user or @org/team."
  }
}
