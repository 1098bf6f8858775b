"""WorkQueueManagers: what one poll of a manager's status port means for its status."""
