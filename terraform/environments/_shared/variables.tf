variable "alert_notification_email" {
  description = "Email address that receives monitoring alerts; required where settings.json turns monitoring on."
  type        = string
  default     = null
  validation {
    condition     = !local.settings.monitoring_enabled || var.alert_notification_email != null
    error_message = "settings.json has monitoring_enabled = true: set alert_notification_email (TF_VAR_alert_notification_email or a tfvars file)."
  }
  validation {
    condition     = var.alert_notification_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", coalesce(var.alert_notification_email, "-")))
    error_message = "alert_notification_email must be an email address."
  }
}

variable "billing_account" {
  description = "Billing account id that pays for the project and holds its budget (XXXXXX-XXXXXX-XXXXXX); kept out of settings.json because it is the organisation's, not the environment's."
  type        = string
  nullable    = false
  validation {
    condition     = can(regex("^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$", var.billing_account))
    error_message = "billing_account must look like 012345-6789AB-CDEF01 (`gcloud billing accounts list`)."
  }
}
