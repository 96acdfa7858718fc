variable "name" {
  description = "Name of the environment, which is also its space's (a DNS label), e.g. \"pr-42\"."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.name))
    error_message = "name must be a DNS label: 1 to 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit."
  }
}

variable "from_space" {
  description = "The space to clone: every app at its last good release."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.from_space))
    error_message = "from_space must be a DNS label (the name of an existing space)."
  }
}

variable "ttl" {
  description = "How long the environment lives; the cell then destroys everything of it (1s to 720h)."
  type        = string
  default     = "24h"
  validation {
    condition     = can(regex("^([0-9]+(ms|s|m|h))+$", var.ttl))
    error_message = "ttl must be a duration such as \"30m\", \"2h\" or \"1h30m\"."
  }
}

variable "overrides" {
  description = "Per app of the space: a different source directory (the change under review), instance count or env."
  type = map(object({
    source    = optional(string)
    instances = optional(number)
    env       = optional(map(string))
  }))
  default = {}
  validation {
    condition     = alltrue([for o in values(var.overrides) : o.instances == null ? true : (o.instances >= 0 && o.instances <= 256)])
    error_message = "overrides[*].instances must be from 0 to 256."
  }
}
