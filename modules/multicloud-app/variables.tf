variable "name" {
  description = "Name of the replica set and of its app (a DNS label)."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.name))
    error_message = "name must be a DNS label: 1 to 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit."
  }
}

variable "space" {
  description = "Space of the app in every region (created where missing)."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.space))
    error_message = "space must be a DNS label."
  }
}

variable "regions" {
  description = "Regions to run in, by the provider's region names. The first is the canary region of a canary_region rollout."
  type        = list(string)
  validation {
    condition     = length(var.regions) > 0 && length(distinct(var.regions)) == length(var.regions)
    error_message = "regions must list at least one region, each once."
  }
}

variable "min_healthy_regions" {
  description = "Regions that must take a release for the apply to succeed; the others show as degraded and catch up on the next apply."
  type        = number
  default     = 1
  validation {
    condition     = var.min_healthy_regions >= 1 && floor(var.min_healthy_regions) == var.min_healthy_regions
    error_message = "min_healthy_regions must be a whole number of at least 1."
  }
}

variable "rollout" {
  description = "canary_region: the first region alone first, the rest only if it converged; parallel: all at once."
  type        = string
  default     = "canary_region"
  validation {
    condition     = contains(["canary_region", "parallel"], var.rollout)
    error_message = "rollout must be canary_region or parallel."
  }
}

variable "global_host" {
  description = "Host every region's router serves the app at, failing over to the other regions."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$", var.global_host))
    error_message = "global_host must be a lowercase host name, e.g. \"web.example.com\"."
  }
}

variable "source_dir" {
  description = "Directory of the app's source."
  type        = string
}

variable "build" {
  description = "Build command, run in the source (null: none)."
  type        = string
  default     = null
}

variable "command" {
  description = "Start command of one instance; it must listen on $PORT."
  type        = string
  validation {
    condition     = length(trimspace(var.command)) > 0
    error_message = "command must start the app, e.g. \"./web\"."
  }
}

variable "instances" {
  description = "Instances per region."
  type        = number
  default     = 2
  validation {
    condition     = var.instances >= 0 && var.instances <= 256 && floor(var.instances) == var.instances
    error_message = "instances must be a whole number from 0 to 256."
  }
}

variable "env" {
  description = "Environment of the instances (the same in every region; the cell adds PAVED_REGION)."
  type        = map(string)
  default     = {}
  validation {
    condition     = alltrue([for k in keys(var.env) : can(regex("^[A-Za-z_][A-Za-z0-9_]*$", k))])
    error_message = "env names must be letters, digits and underscores, not starting with a digit."
  }
}

variable "health_path" {
  description = "HTTP path that answers 200 when an instance is healthy."
  type        = string
  default     = "/healthz"
  validation {
    condition     = startswith(var.health_path, "/")
    error_message = "health_path must start with /."
  }
}

variable "strategy" {
  description = "How a release rolls out within a region: rolling, canary, blue_green or recreate."
  type        = string
  default     = "rolling"
  validation {
    condition     = contains(["rolling", "canary", "blue_green", "recreate"], var.strategy)
    error_message = "strategy must be one of rolling, canary, blue_green or recreate."
  }
}
