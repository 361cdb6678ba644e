variable "backup_retention_days" {
  description = "Keep a daily backup for this many days; null takes no scheduled backups."
  type        = number
  default     = null
  validation {
    condition     = var.backup_retention_days == null || try(var.backup_retention_days >= 1 && var.backup_retention_days <= 98, false)
    error_message = "backup_retention_days must be between 1 and 98 (Firestore keeps daily backups for at most 14 weeks), or null for no backups."
  }
}

variable "database_id" {
  description = "Database id; \"(default)\" is the database the client libraries open without configuration."
  type        = string
  default     = "(default)"
  nullable    = false
  validation {
    condition     = var.database_id == "(default)" || can(regex("^[a-z][-a-z0-9]{2,61}[a-z0-9]$", var.database_id))
    error_message = "database_id must be \"(default)\" or 4-63 lowercase letters, digits or hyphens starting with a letter."
  }
}

variable "delete_protection" {
  description = "Refuse deletion of the database (on in prod) and abandon rather than delete it on `terraform destroy`."
  type        = bool
  default     = true
  nullable    = false
}

variable "indexes" {
  description = "Composite indexes by name: collection and ordered fields."
  type = map(object({
    collection = string
    fields = list(object({
      field_path = string
      order      = optional(string, "ASCENDING")
    }))
  }))
  default  = {}
  nullable = false
  validation {
    condition     = alltrue([for index in values(var.indexes) : length(index.fields) >= 2])
    error_message = "A composite index needs at least two fields; Firestore indexes single fields automatically."
  }
  validation {
    condition = alltrue(flatten([
      for index in values(var.indexes) : [for field in index.fields : contains(["ASCENDING", "DESCENDING"], field.order)]
    ]))
    error_message = "An index field's order must be ASCENDING or DESCENDING."
  }
}

variable "kms_key_name" {
  description = "Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K, in the database's location) that encrypts the database; null keeps Google-managed encryption. Set only when the database is created: Firestore cannot change it afterwards."
  type        = string
  default     = null
  validation {
    condition     = var.kms_key_name == null || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", coalesce(var.kms_key_name, "-")))
    error_message = "kms_key_name must be a key id, projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
}

variable "location" {
  description = "Firestore location (a region such as us-central1, or a multi-region such as nam5)."
  type        = string
  nullable    = false
}

variable "point_in_time_recovery" {
  description = "Keep seven days of versions for point-in-time recovery."
  type        = bool
  default     = false
  nullable    = false
}

variable "project_id" {
  description = "Project that hosts the database."
  type        = string
  nullable    = false
}

variable "ttl_fields" {
  description = "TTL policies by name: Firestore deletes a document of `collection` once the timestamp in its top-level `field` has passed (usually within a day). Documents without the field never expire."
  type = map(object({
    collection = string
    field      = string
  }))
  default  = {}
  nullable = false
  validation {
    condition = alltrue([
      for ttl in values(var.ttl_fields) : can(regex("^[A-Za-z_][A-Za-z0-9_]{0,127}$", ttl.field)) && can(regex("^[^/]+$", ttl.collection))
    ])
    error_message = "A TTL field must be one top-level field name (letters, digits, underscores) of a collection id without slashes."
  }
}
