variable "cleanup" {
  description = "Cleanup policies: keep the most recent versions of each image, delete untagged versions after a number of days."
  type = object({
    delete_untagged_after_days = number
    dry_run                    = optional(bool, false)
    keep_recent_versions       = number
  })
  nullable = false
  validation {
    condition     = var.cleanup.keep_recent_versions >= 1
    error_message = "cleanup.keep_recent_versions must be at least 1, or a rollback would have nothing to return to."
  }
  validation {
    condition     = var.cleanup.delete_untagged_after_days >= 1
    error_message = "cleanup.delete_untagged_after_days must be at least 1 day so a build's untagged layers outlive the push that tags them."
  }
}

variable "kms_key_name" {
  description = "Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K, in the repository's location) that encrypts the images; null keeps Google-managed encryption. Set only when the repository is created: Artifact Registry cannot change it afterwards."
  type        = string
  default     = null
  validation {
    condition     = var.kms_key_name == null || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", coalesce(var.kms_key_name, "-")))
    error_message = "kms_key_name must be a key id, projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
}

variable "labels" {
  description = "Labels on the repository."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "location" {
  description = "Region of the repository."
  type        = string
  nullable    = false
}

variable "project_id" {
  description = "Project that hosts the repository."
  type        = string
  nullable    = false
}

variable "readers" {
  description = "IAM members granted roles/artifactregistry.reader on this repository, by a key known at plan time."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "repository_id" {
  description = "Repository id (settings.json `artifact_registry.repository`)."
  type        = string
  nullable    = false
  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", var.repository_id))
    error_message = "repository_id must be lowercase letters, digits or hyphens, start with a letter and not end with a hyphen."
  }
}

variable "writers" {
  description = "IAM members granted roles/artifactregistry.writer on this repository (the deployer), by a key known at plan time."
  type        = map(string)
  default     = {}
  nullable    = false
}
