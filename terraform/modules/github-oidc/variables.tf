variable "github" {
  description = "The GitHub repository allowed to federate. The numeric ids are immutable, unlike names, which can be re-registered by someone else after a rename."
  type = object({
    owner_id      = string
    repository    = string
    repository_id = string
  })
  nullable = false
  validation {
    condition     = can(regex("^[1-9][0-9]*$", var.github.repository_id)) && can(regex("^[1-9][0-9]*$", var.github.owner_id))
    error_message = "github.repository_id and github.owner_id must be GitHub's numeric ids (`gh api repos/OWNER/REPO --jq '.id, .owner.id'`)."
  }
  validation {
    condition     = can(regex("^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$", var.github.repository))
    error_message = "github.repository must be OWNER/NAME."
  }
}

variable "identities" {
  description = "Service accounts GitHub Actions may impersonate, by name: `ref = null` lets any workflow of the repository (pull requests included) in, so keep such an identity weak; a ref (refs/heads/main) admits only workflows running on that protected ref."
  type = map(object({
    ref             = optional(string)
    service_account = string
  }))
  default  = {}
  nullable = false
  validation {
    condition     = alltrue([for identity in values(var.identities) : identity.ref == null || startswith(coalesce(identity.ref, "-"), "refs/")])
    error_message = "An identity's ref must be a full git ref such as refs/heads/main, or null for repository-wide access."
  }
  validation {
    condition     = alltrue([for identity in values(var.identities) : can(regex("^projects/[^/]+/serviceAccounts/[^/]+$", identity.service_account))])
    error_message = "An identity's service_account must be a fully qualified name: projects/PROJECT/serviceAccounts/EMAIL."
  }
}

variable "pool_id" {
  description = "Workload identity pool id."
  type        = string
  default     = "github"
  nullable    = false
  validation {
    condition     = can(regex("^[a-z0-9-]{4,32}$", var.pool_id)) && !startswith(var.pool_id, "gcp-")
    error_message = "pool_id must be 4-32 lowercase letters, digits or hyphens and must not start with \"gcp-\"."
  }
}

variable "project_id" {
  description = "Project that hosts the pool."
  type        = string
  nullable    = false
}

variable "provider_id" {
  description = "Workload identity pool provider id."
  type        = string
  default     = "github-actions"
  nullable    = false
  validation {
    condition     = can(regex("^[a-z0-9-]{4,32}$", var.provider_id)) && !startswith(var.provider_id, "gcp-")
    error_message = "provider_id must be 4-32 lowercase letters, digits or hyphens and must not start with \"gcp-\"."
  }
}
