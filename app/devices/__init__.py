"""Devices known to the IoT Agent: the sensors a model can be trained on."""

from app.devices.service import DeviceEntity, DeviceGroup, list_device_groups

__all__ = ["DeviceEntity", "DeviceGroup", "list_device_groups"]
