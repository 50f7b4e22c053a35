"""Tools around Floorline that are not the app: the demo's vendor simulator."""
