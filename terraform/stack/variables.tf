variable "alert_notification_email" {
  description = "Address of the notification channel that receives monitoring alerts; read only where `settings.monitoring_enabled` (the environment root requires it there)."
  type        = string
  default     = null
}

variable "billing_account" {
  description = "Billing account id that pays for the project and holds its budget (XXXXXX-XXXXXX-XXXXXX)."
  type        = string
  nullable    = false
}

variable "labels" {
  description = "Labels on every resource that takes them (the environment root gives its provider the same `default_labels`)."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "settings" {
  description = "The environment's settings.json, decoded: the keys Terraform reads (terraform/README.md lists what each is used for). Keys only the delivery library reads (rollout, health_checks, transaction_checks, services.<svc>.depends_on) are dropped by the type."
  type = object({
    allow_unauthenticated = bool
    artifact_registry = object({
      delete_untagged_after_days = number
      keep_recent_versions       = number
      repository                 = string
    })
    backup_enabled = bool
    budget = object({
      amount_usd = number
      thresholds = list(number)
    })
    deletion_protection = bool
    environment         = string
    github = object({
      apply_ref     = string
      owner_id      = string
      repository    = string
      repository_id = string
    })
    monitoring_enabled = bool
    project_id         = string
    region             = string
    retention_days     = number
    services = map(object({
      concurrency   = number
      cpu           = string
      max_instances = number
      memory        = string
      min_instances = number
      name          = string
    }))
  })
  nullable = false
  validation {
    condition     = alltrue([for key in ["api-gateway", "ml-service"] : contains(keys(var.settings.services), key)])
    error_message = "settings.services must describe both \"api-gateway\" and \"ml-service\": the stack deploys, wires and watches each of them."
  }
}
