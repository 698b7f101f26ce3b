"""Provider adapters behind one interface (`providers.base.Provider`) and the registry that picks one."""
