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
    compliance = object({
      audit_logs = object({
        data_access    = bool
        locked         = bool
        retention_days = number
      })
      cmek        = bool
      relaxations = map(string)
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
    # Projects whose deployer promotes this environment's releases (staging: prod's project).
    promotion_targets = optional(list(string), [])
    region            = string
    retention_days    = number
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
  validation {
    # Each control of the compliance pack, and whether these settings weaken it. The
    # audit retention HIPAA asks of required documentation is six years (2190 days).
    condition = alltrue(concat(
      [
        for control, weakened in {
          audit_log_lock          = !var.settings.compliance.audit_logs.locked
          audit_log_retention     = var.settings.compliance.audit_logs.retention_days < 2190
          cmek                    = !var.settings.compliance.cmek
          data_access_logs        = !var.settings.compliance.audit_logs.data_access
          deletion_protection     = !var.settings.deletion_protection
          point_in_time_recovery  = !var.settings.backup_enabled
          unauthenticated_gateway = var.settings.allow_unauthenticated
        } : weakened == contains(keys(var.settings.compliance.relaxations), control)
      ],
      [
        for control in keys(var.settings.compliance.relaxations) : contains([
          "audit_log_lock", "audit_log_retention", "cmek", "data_access_logs",
          "deletion_protection", "point_in_time_recovery", "unauthenticated_gateway",
        ], control)
      ],
    ))
    error_message = "settings.compliance.relaxations must name exactly the controls these settings weaken (audit_log_lock, audit_log_retention, cmek, data_access_logs, deletion_protection, point_in_time_recovery, unauthenticated_gateway), each with its reason: add a weakened control, or remove one the settings keep strict."
  }
  validation {
    condition     = alltrue([for reason in values(var.settings.compliance.relaxations) : length(trimspace(reason)) >= 20])
    error_message = "Each entry of settings.compliance.relaxations must give its reason in a sentence (at least 20 characters)."
  }
  validation {
    condition     = var.settings.environment != "prod" || length(var.settings.compliance.relaxations) == 0
    error_message = "prod relaxes no control: settings.compliance.relaxations must be empty there, with every control at its strict value."
  }
  validation {
    condition     = var.settings.compliance.audit_logs.retention_days >= 1 && var.settings.compliance.audit_logs.retention_days <= 3650
    error_message = "settings.compliance.audit_logs.retention_days must be between 1 and 3650, the retention a Cloud Logging bucket accepts."
  }
}
