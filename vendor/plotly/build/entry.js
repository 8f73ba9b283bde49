'use strict';
// plotly.js with only the trace types the panels draw (layouts/): bar, scatter (always in
// core), pie and indicator. Built by build.sh into ../plotly-wall.min.js.
var Plotly = require('plotly.js/lib/core');

Plotly.register([
    require('plotly.js/lib/bar'),
    require('plotly.js/lib/pie'),
    require('plotly.js/lib/indicator'),
]);

module.exports = Plotly;
