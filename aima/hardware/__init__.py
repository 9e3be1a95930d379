"""What this machine is: NVML and host facts -> Hardware; hardware profiles load/save."""
