variable "project_id" {
  description = "Project that hosts the service accounts and receives their project-level roles."
  type        = string
  nullable    = false
}

variable "service_accounts" {
  description = "Service accounts by account id: display name, predefined project roles (never primitive ones), the ids of accounts here that may act as this one (roles/iam.serviceAccountUser on this account only) and of accounts that may mint its ID tokens (roles/iam.serviceAccountOpenIdTokenCreator on this account only; an account may name itself)."
  type = map(object({
    description       = optional(string)
    display_name      = string
    id_token_creators = optional(set(string), [])
    project_roles     = optional(set(string), [])
    users             = optional(set(string), [])
  }))
  nullable = false
  validation {
    condition     = alltrue([for id in keys(var.service_accounts) : can(regex("^[a-z][-a-z0-9]{4,28}[a-z0-9]$", id))])
    error_message = "Service account ids must be 6-30 lowercase letters, digits or hyphens, start with a letter and not end with a hyphen."
  }
  validation {
    condition = alltrue(flatten([
      for sa in values(var.service_accounts) : [
        for role in sa.project_roles : !contains(["roles/owner", "roles/editor", "roles/viewer"], role)
      ]
    ]))
    error_message = "Primitive roles (roles/owner, roles/editor, roles/viewer) are not allowed: grant the predefined roles the account needs."
  }
  validation {
    condition = alltrue(flatten([
      for sa in values(var.service_accounts) : [
        for role in sa.project_roles : can(regex("^(roles/[a-zA-Z0-9_.]+|projects/[-a-z0-9]+/roles/[a-zA-Z0-9_.]+)$", role))
      ]
    ]))
    error_message = "Project roles must be predefined (roles/...) or custom project roles (projects/PROJECT/roles/...)."
  }
  validation {
    condition = alltrue(flatten([
      for sa in values(var.service_accounts) : [
        for user in setunion(sa.users, sa.id_token_creators) : contains(keys(var.service_accounts), user)
      ]
    ]))
    error_message = "users and id_token_creators must name accounts of this module by id."
  }
}
