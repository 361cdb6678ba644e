variable "bucket_id" {
  description = "Id of the log bucket that keeps the audit logs."
  type        = string
  default     = "audit-logs"
  nullable    = false
  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9_-]{0,99}$", var.bucket_id)) && !startswith(var.bucket_id, "_")
    error_message = "bucket_id must be 1-100 letters, digits, hyphens or underscores and not start with an underscore (_Required and _Default are Google's)."
  }
}

variable "data_access_services" {
  description = "Services whose Data Access audit logs (ADMIN_READ, DATA_READ, DATA_WRITE) are turned on; Firestore is configured as datastore.googleapis.com."
  type        = set(string)
  default     = []
  nullable    = false
  validation {
    condition     = alltrue([for service in var.data_access_services : can(regex("^[a-z][a-z0-9-]*\\.googleapis\\.com$", service))])
    error_message = "data_access_services must be service names such as pubsub.googleapis.com (allServices is not accepted: name each service)."
  }
}

variable "location" {
  description = "Location of the log bucket (a region keeps the logs beside the data they describe, or global)."
  type        = string
  nullable    = false
}

variable "locked" {
  description = "Lock the bucket: its retention can then only be raised, and it cannot be deleted while it holds logs. Irreversible."
  type        = bool
  default     = false
  nullable    = false
}

variable "project_id" {
  description = "Project whose audit logs are configured and kept."
  type        = string
  nullable    = false
}

variable "retention_days" {
  description = "Days the bucket keeps each audit log entry (Cloud Logging allows 1 to 3650)."
  type        = number
  nullable    = false
  validation {
    condition     = var.retention_days >= 1 && var.retention_days <= 3650 && floor(var.retention_days) == var.retention_days
    error_message = "retention_days must be a whole number of days between 1 and 3650."
  }
}

variable "sink_name" {
  description = "Name of the sink that routes the audit logs into the bucket."
  type        = string
  default     = "audit-logs"
  nullable    = false
}
