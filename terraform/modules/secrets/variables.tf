variable "kms_key_name" {
  description = "Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K, in replica_location) that encrypts every secret's payloads; null keeps Google-managed encryption. The Secret Manager service agent needs roles/cloudkms.cryptoKeyEncrypterDecrypter on it."
  type        = string
  default     = null
  validation {
    condition     = var.kms_key_name == null || var.replica_location != null
    error_message = "kms_key_name needs replica_location: a customer-managed key protects secrets kept in the key's own region (automatic replication would need a key in global)."
  }
  validation {
    condition     = var.kms_key_name == null || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", coalesce(var.kms_key_name, "-")))
    error_message = "kms_key_name must be a key id, projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
}

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

variable "replica_location" {
  description = "Region that keeps every secret's payloads (user-managed replication); null replicates them automatically wherever Google chooses. Secret Manager cannot change replication afterwards: a change replaces the secrets, and their values must be added again."
  type        = string
  default     = null
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
