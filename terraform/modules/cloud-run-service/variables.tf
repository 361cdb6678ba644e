variable "allow_unauthenticated" {
  description = "Whether this environment deliberately serves the service to anyone on the internet; only then may `invokers` name allUsers or allAuthenticatedUsers."
  type        = bool
  default     = false
  nullable    = false
}

variable "container" {
  description = "The single application container: initial image (the delivery pipeline owns it afterwards), port, resources, plain environment variables and Secret Manager references."
  type = object({
    cpu               = optional(string, "1")
    cpu_idle          = optional(bool, true)
    env               = optional(map(string), {})
    image             = optional(string, "us-docker.pkg.dev/cloudrun/container/hello")
    memory            = optional(string, "512Mi")
    port              = optional(number, 8080)
    startup_cpu_boost = optional(bool, true)
    secret_env = optional(map(object({
      secret  = string
      version = optional(string, "latest")
    })), {})
  })
  default  = {}
  nullable = false
  validation {
    condition     = contains(["1", "2", "4", "6", "8"], var.container.cpu)
    error_message = "container.cpu must be one of \"1\", \"2\", \"4\", \"6\" or \"8\" (whole vCPUs as Cloud Run accepts them)."
  }
  validation {
    condition     = can(regex("^[1-9][0-9]*(Mi|Gi)$", var.container.memory))
    error_message = "container.memory must be a quantity in Mi or Gi, for example \"512Mi\" or \"4Gi\"."
  }
  validation {
    condition     = var.container.port >= 1 && var.container.port <= 65535
    error_message = "container.port must be a TCP port between 1 and 65535."
  }
  validation {
    condition = length(setintersection(
      toset(concat(keys(var.container.env), keys(var.container.secret_env))),
      toset(["PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"])
    )) == 0
    error_message = "container.env and container.secret_env must not set PORT, K_SERVICE, K_REVISION or K_CONFIGURATION: Cloud Run reserves them."
  }
  validation {
    condition     = length(setintersection(toset(keys(var.container.env)), toset(keys(var.container.secret_env)))) == 0
    error_message = "A variable name appears in both container.env and container.secret_env; give each variable one source."
  }
}

variable "custom_audiences" {
  description = "Audiences, besides the service's own URL, that the ID tokens of its callers may carry: Cloud Run accepts them on the service URL and on every tag URL, so one token reaches any revision the delivery pipeline probes."
  type        = list(string)
  default     = []
  nullable    = false
  validation {
    condition     = alltrue([for audience in var.custom_audiences : length(trimspace(audience)) > 0 && length(audience) <= 512])
    error_message = "custom_audiences must be non-empty strings of at most 512 characters, for example \"https://api-gateway.my-project.example\"."
  }
}

variable "deletion_protection" {
  description = "Refuse `terraform destroy` of the service (off only in dev)."
  type        = bool
  default     = true
  nullable    = false
}

variable "ingress" {
  description = "Which network sources may reach the service."
  type        = string
  default     = "INGRESS_TRAFFIC_ALL"
  nullable    = false
  validation {
    condition = contains([
      "INGRESS_TRAFFIC_ALL", "INGRESS_TRAFFIC_INTERNAL_ONLY", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
    ], var.ingress)
    error_message = "ingress must be INGRESS_TRAFFIC_ALL, INGRESS_TRAFFIC_INTERNAL_ONLY or INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER."
  }
}

variable "invokers" {
  description = "IAM members granted roles/run.invoker on the service, by a key known at plan time."
  type        = map(string)
  default     = {}
  nullable    = false
  validation {
    condition = var.allow_unauthenticated || length(setintersection(
      toset(values(var.invokers)), toset(["allUsers", "allAuthenticatedUsers"])
    )) == 0
    error_message = "invokers names allUsers or allAuthenticatedUsers but allow_unauthenticated is false: set allow_unauthenticated in the environment's settings.json if the service must be public."
  }
}

variable "labels" {
  description = "Labels on the service. The delivery pipeline adds its own `clarity-` labels; the provider leaves labels it does not manage alone."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "location" {
  description = "Region of the service."
  type        = string
  nullable    = false
}

variable "name" {
  description = "Service name (settings.json `services.<service>.name`)."
  type        = string
  nullable    = false
  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$", var.name))
    error_message = "name must be 1-49 lowercase letters, digits or hyphens, start with a letter and not end with a hyphen."
  }
}

variable "probes" {
  description = "Startup and liveness HTTP probes; both call `path` on the container port."
  type = object({
    path = optional(string, "/health")
    liveness = optional(object({
      failure_threshold = optional(number, 3)
      period_seconds    = optional(number, 30)
      timeout_seconds   = optional(number, 5)
    }), {})
    startup = optional(object({
      failure_threshold     = optional(number, 24)
      initial_delay_seconds = optional(number, 0)
      period_seconds        = optional(number, 5)
      timeout_seconds       = optional(number, 3)
    }), {})
  })
  default  = {}
  nullable = false
  validation {
    condition     = startswith(var.probes.path, "/")
    error_message = "probes.path must be an absolute HTTP path such as \"/health\"."
  }
  validation {
    condition = (
      var.probes.startup.timeout_seconds <= var.probes.startup.period_seconds &&
      var.probes.liveness.timeout_seconds <= var.probes.liveness.period_seconds
    )
    error_message = "A probe's timeout_seconds must not exceed its period_seconds."
  }
}

variable "project_id" {
  description = "Project that hosts the service."
  type        = string
  nullable    = false
}

variable "scaling" {
  description = "Instance bounds and per-instance request concurrency (settings.json `services.<service>`). `min_instances` is the service-level minimum (warm only on revisions that serve traffic); `max_instances` bounds each revision."
  type = object({
    concurrency   = optional(number, 80)
    max_instances = number
    min_instances = number
  })
  nullable = false
  validation {
    condition     = var.scaling.min_instances >= 0 && var.scaling.min_instances <= var.scaling.max_instances
    error_message = "scaling.min_instances must be between 0 and scaling.max_instances."
  }
  validation {
    condition     = var.scaling.max_instances >= 1 && var.scaling.max_instances <= 1000
    error_message = "scaling.max_instances must be between 1 and 1000."
  }
  validation {
    condition     = var.scaling.concurrency >= 1 && var.scaling.concurrency <= 1000
    error_message = "scaling.concurrency must be between 1 and 1000 requests per instance."
  }
}

variable "service_account" {
  description = "Email of the dedicated runtime service account the revisions run as."
  type        = string
  nullable    = false
  validation {
    condition     = can(regex("^[a-z][-a-z0-9]{4,28}[a-z0-9]@[-a-z0-9]+\\.iam\\.gserviceaccount\\.com$", var.service_account))
    error_message = "service_account must be the email of a user-managed service account (NAME@PROJECT.iam.gserviceaccount.com), never the default compute account."
  }
}

variable "timeout" {
  description = "Maximum request duration."
  type        = string
  default     = "300s"
  nullable    = false
  validation {
    condition     = can(regex("^[0-9]+s$", var.timeout)) && try(tonumber(trimsuffix(var.timeout, "s")) <= 3600, false)
    error_message = "timeout must be a duration in seconds such as \"300s\", at most \"3600s\"."
  }
}
