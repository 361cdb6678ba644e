variable "amount_usd" {
  description = "Monthly budget in US dollars (settings.json `budget.amount_usd`)."
  type        = number
  nullable    = false
  validation {
    condition     = var.amount_usd > 0 && floor(var.amount_usd) == var.amount_usd
    error_message = "amount_usd must be a positive whole number of dollars."
  }
}

variable "billing_account" {
  description = "Billing account id that pays for the project (XXXXXX-XXXXXX-XXXXXX)."
  type        = string
  nullable    = false
  validation {
    condition     = can(regex("^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$", var.billing_account))
    error_message = "billing_account must look like 012345-6789AB-CDEF01 (`gcloud billing accounts list`)."
  }
}

variable "display_name" {
  description = "Budget name shown in the billing console."
  type        = string
  nullable    = false
}

variable "notification_channels" {
  description = "Monitoring notification channel ids that receive threshold alerts in addition to the billing account's administrators."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "project_number" {
  description = "Number of the project whose spend the budget tracks."
  type        = string
  nullable    = false
}

variable "thresholds" {
  description = "Alert thresholds as fractions of the budget (settings.json `budget.thresholds`: 0.5, 0.8, 1.0)."
  type        = list(number)
  nullable    = false
  validation {
    condition     = length(var.thresholds) > 0 && alltrue([for t in var.thresholds : t > 0 && t <= 5])
    error_message = "thresholds must be a non-empty list of fractions greater than 0 and at most 5 (1.0 = 100 %)."
  }
  validation {
    condition     = length(distinct(var.thresholds)) == length(var.thresholds)
    error_message = "thresholds must not repeat a value."
  }
}
