variable "destroy_scheduled_days" {
  description = "Days a destroyed key version stays recoverable before its material is gone (Cloud KMS allows 1 to 120). Fixed when a key is created: a change would replace the keys, which prevent_destroy refuses."
  type        = number
  default     = 30
  nullable    = false
  validation {
    condition     = var.destroy_scheduled_days >= 1 && var.destroy_scheduled_days <= 120 && floor(var.destroy_scheduled_days) == var.destroy_scheduled_days
    error_message = "destroy_scheduled_days must be a whole number of days between 1 and 120."
  }
}

variable "key_ring" {
  description = "Key ring name; one ring per environment holds every key of that environment."
  type        = string
  nullable    = false
  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,63}$", var.key_ring))
    error_message = "key_ring must be 1-63 letters, digits, hyphens or underscores."
  }
}

variable "keys" {
  description = "Symmetric encryption keys by purpose (the key's name), each with the IAM members (by a key known at plan time) granted roles/cloudkms.cryptoKeyEncrypterDecrypter on that key alone: normally the one service agent that encrypts with it."
  type = map(object({
    encrypters = optional(map(string), {})
  }))
  nullable = false
  validation {
    condition     = alltrue([for purpose in keys(var.keys) : can(regex("^[a-zA-Z0-9_-]{1,63}$", purpose))])
    error_message = "Key names (the map's keys) must be 1-63 letters, digits, hyphens or underscores."
  }
  validation {
    condition = alltrue(flatten([
      for key in values(var.keys) : [for member in values(key.encrypters) : startswith(member, "serviceAccount:")]
    ]))
    error_message = "encrypters must be service accounts (serviceAccount:EMAIL): people never hold a key's encrypt and decrypt permission."
  }
}

variable "labels" {
  description = "Labels on every key (each key also gets `purpose`)."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "location" {
  description = "Location of the key ring: the region of the data its keys protect (Firestore, Artifact Registry and regional secrets accept only a key in their own location)."
  type        = string
  nullable    = false
}

variable "project_id" {
  description = "Project that hosts the key ring."
  type        = string
  nullable    = false
}

variable "protection_level" {
  description = "Where key material lives: SOFTWARE, or HSM (FIPS 140-2 Level 3)."
  type        = string
  default     = "SOFTWARE"
  nullable    = false
  validation {
    condition     = contains(["SOFTWARE", "HSM"], var.protection_level)
    error_message = "protection_level must be SOFTWARE or HSM."
  }
}

variable "rotation_period" {
  description = "How often every key gets a new primary version, in seconds (\"7776000s\", 90 days, the longest allowed here). Left at its default, the value is a literal that checkov can read (CKV_GCP_43)."
  type        = string
  default     = "7776000s"
  nullable    = false
  validation {
    condition     = can(regex("^[0-9]+s$", var.rotation_period)) && try(tonumber(trimsuffix(var.rotation_period, "s")) >= 86400 && tonumber(trimsuffix(var.rotation_period, "s")) <= 7776000, false)
    error_message = "rotation_period must be between \"86400s\" (1 day) and \"7776000s\" (90 days): a key that protects health data rotates at least every 90 days."
  }
}
