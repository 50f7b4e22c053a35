# views come from the logbook pages
