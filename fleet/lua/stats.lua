return stats()
