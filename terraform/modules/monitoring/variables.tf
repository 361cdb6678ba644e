variable "alerts" {
  description = "Alert thresholds applied to every service: the share of 5xx responses and the 99th percentile latency, each sustained for `duration`."
  type = object({
    duration       = optional(string, "300s")
    error_ratio    = optional(number, 0.05)
    latency_p99_ms = optional(number, 2000)
    uptime_period  = optional(string, "60s")
    uptime_timeout = optional(string, "10s")
    health_path    = optional(string, "/health")
  })
  default  = {}
  nullable = false
  validation {
    condition     = var.alerts.error_ratio > 0 && var.alerts.error_ratio < 1
    error_message = "alerts.error_ratio is a fraction of requests: greater than 0 and less than 1 (0.05 = 5 %)."
  }
  validation {
    condition     = var.alerts.latency_p99_ms > 0
    error_message = "alerts.latency_p99_ms must be a positive number of milliseconds."
  }
  validation {
    condition     = contains(["60s", "300s", "600s", "900s"], var.alerts.uptime_period)
    error_message = "alerts.uptime_period must be one of 60s, 300s, 600s or 900s (the periods uptime checks support)."
  }
  validation {
    condition     = startswith(var.alerts.health_path, "/")
    error_message = "alerts.health_path must be an absolute HTTP path such as \"/health\"."
  }
}

variable "deployment_metric" {
  description = "Metric type of the counter on the delivery library's deployment entries (modules/observability `deployment_metrics.deployments`), with labels environment, kind and outcome."
  type        = string
  nullable    = false
  validation {
    condition     = startswith(var.deployment_metric, "logging.googleapis.com/user/")
    error_message = "deployment_metric must be a log-based metric type, logging.googleapis.com/user/NAME."
  }
}

variable "notification_email" {
  description = "Address of the email notification channel that receives every alert."
  type        = string
  nullable    = false
  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.notification_email))
    error_message = "notification_email must be an email address."
  }
}

variable "project_id" {
  description = "Project that hosts the checks and policies."
  type        = string
  nullable    = false
}

variable "services" {
  description = "Cloud Run services to watch, by key: service name and region."
  type = map(object({
    location = string
    name     = string
  }))
  nullable = false
}
