"""A plant-identification community's API (reference deployment 1) on bastion.django."""
