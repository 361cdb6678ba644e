variable "labels" {
  description = "Labels on every secret."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "project_id" {
  description = "Project that hosts the secrets."
  type        = string
  nullable    = false
}

variable "secrets" {
  description = "Secrets by id, each with the service accounts (serviceAccount:EMAIL, by a key known at plan time) allowed to read it. Only the containers are declared here: values are added out of band (`gcloud secrets versions add`) so they never enter code, variables or state."
  type = map(object({
    accessors = optional(map(string), {})
    labels    = optional(map(string), {})
  }))
  default  = {}
  nullable = false
  validation {
    condition     = alltrue([for id in keys(var.secrets) : can(regex("^[A-Za-z0-9_-]{1,255}$", id))])
    error_message = "Secret ids must be 1-255 letters, digits, hyphens or underscores."
  }
  validation {
    condition = alltrue(flatten([
      for secret in values(var.secrets) : [for member in values(secret.accessors) : startswith(member, "serviceAccount:")]
    ]))
    error_message = "Secret accessors must be service accounts (serviceAccount:EMAIL); people read secrets through break-glass procedures, not standing grants."
  }
}
