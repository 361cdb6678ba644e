variable "dead_letter_retention" {
  description = "How long the subscription on each dead-letter topic keeps unacknowledged messages."
  type        = string
  default     = "604800s"
  nullable    = false
  validation {
    condition = (
      can(regex("^[0-9]+s$", var.dead_letter_retention)) &&
      try(tonumber(trimsuffix(var.dead_letter_retention, "s")) >= 600 && tonumber(trimsuffix(var.dead_letter_retention, "s")) <= 2678400, false)
    )
    error_message = "dead_letter_retention must be between \"600s\" (10 minutes) and \"2678400s\" (31 days)."
  }
}

variable "kms_key_name" {
  description = "Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) that encrypts the messages of every topic here, dead-letter topics included; null keeps Google-managed encryption. The Pub/Sub service agent needs roles/cloudkms.cryptoKeyEncrypterDecrypter on it."
  type        = string
  default     = null
  validation {
    condition     = var.kms_key_name == null || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", coalesce(var.kms_key_name, "-")))
    error_message = "kms_key_name must be a key id, projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
}

variable "labels" {
  description = "Labels on every topic and subscription."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "message_storage_regions" {
  description = "Regions where Pub/Sub may persist the messages of every topic here; empty leaves the choice to Pub/Sub (the nearest region to the publisher)."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "project_id" {
  description = "Project that hosts the topics."
  type        = string
  nullable    = false
}

variable "project_number" {
  description = "Project number, to name the Pub/Sub service agent that dead-letters messages."
  type        = string
  nullable    = false
}

variable "push_service_account" {
  description = "Email of the service account whose OIDC token authenticates push deliveries; required when a subscription has a push_endpoint."
  type        = string
  default     = null
}

variable "topics" {
  description = "Topics by name, each with its subscriptions by name. A dead-lettered subscription sends a message to `<topic>-dead-letter` after max_delivery_attempts; every dead-letter topic gets a pull subscription of the same name so nothing is lost, and `dead_letter_subscriptions` are pushed from it besides (to record failures). `subscribers` (IAM members by a key known at plan time) get roles/pubsub.subscriber on that subscription only. A push carries an OIDC token of push_service_account whose audience is `push_audience` (default: the endpoint URL)."
  type = map(object({
    dead_letter_subscriptions = optional(map(object({
      ack_deadline_seconds  = optional(number, 60)
      push_audience         = optional(string)
      push_endpoint         = string
      retry_maximum_backoff = optional(string, "600s")
      retry_minimum_backoff = optional(string, "10s")
    })), {})
    labels                     = optional(map(string), {})
    message_retention_duration = optional(string, "86400s")
    subscriptions = optional(map(object({
      ack_deadline_seconds       = optional(number, 60)
      dead_letter                = optional(bool, true)
      max_delivery_attempts      = optional(number, 5)
      message_retention_duration = optional(string, "604800s")
      push_audience              = optional(string)
      push_endpoint              = optional(string)
      retry_maximum_backoff      = optional(string, "600s")
      retry_minimum_backoff      = optional(string, "10s")
      subscribers                = optional(map(string), {})
    })), {})
  }))
  nullable = false
  validation {
    condition     = alltrue([for name in keys(var.topics) : can(regex("^[a-zA-Z][-a-zA-Z0-9_.~+%]{2,254}$", name)) && !startswith(name, "goog")])
    error_message = "Topic names must be 3-255 characters, start with a letter and not start with \"goog\"."
  }
  validation {
    condition = alltrue(flatten([
      for topic in values(var.topics) : [
        for sub in values(topic.subscriptions) : sub.max_delivery_attempts >= 5 && sub.max_delivery_attempts <= 100
      ]
    ]))
    error_message = "max_delivery_attempts must be between 5 and 100, the range Pub/Sub accepts."
  }
  validation {
    condition = alltrue(flatten([
      for topic in values(var.topics) : [
        for sub in values(topic.subscriptions) : sub.ack_deadline_seconds >= 10 && sub.ack_deadline_seconds <= 600
      ]
    ]))
    error_message = "ack_deadline_seconds must be between 10 and 600."
  }
  validation {
    condition = alltrue(flatten([
      for topic in values(var.topics) : [
        for endpoint in concat(
          [for sub in values(topic.subscriptions) : sub.push_endpoint],
          [for sub in values(topic.dead_letter_subscriptions) : sub.push_endpoint],
        ) : endpoint == null || startswith(coalesce(endpoint, "-"), "https://")
      ]
    ]))
    error_message = "A push_endpoint must be an https:// URL."
  }
  validation {
    condition = var.push_service_account != null || alltrue(flatten([
      for topic in values(var.topics) : concat(
        [for sub in values(topic.subscriptions) : sub.push_endpoint == null],
        [length(topic.dead_letter_subscriptions) == 0],
      )
    ]))
    error_message = "A subscription has a push_endpoint but push_service_account is not set: pushes must carry an OIDC token."
  }
  validation {
    condition = alltrue([
      for topic in values(var.topics) :
      length(topic.dead_letter_subscriptions) == 0 || anytrue([for sub in values(topic.subscriptions) : sub.dead_letter])
    ])
    error_message = "dead_letter_subscriptions need a dead-lettered subscription on their topic: without one there is no dead-letter topic to subscribe to."
  }
  validation {
    condition     = alltrue([for name in keys(var.topics) : !endswith(name, "-dead-letter")])
    error_message = "Topic names ending in \"-dead-letter\" are reserved for the dead-letter topics this module creates."
  }
}
