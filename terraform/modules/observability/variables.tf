variable "environment" {
  description = "Environment name shown in the dashboard's title (settings.json `environment`)."
  type        = string
  nullable    = false
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,29}$", var.environment))
    error_message = "environment must be a short lowercase name such as dev, staging or prod."
  }
}

variable "project_id" {
  description = "Project that hosts the metrics, the dashboard and the deployment log."
  type        = string
  nullable    = false
}
