/*
 * PiFocus beside the picture: PiFocusStripViewModel, a compact focus strip under the Control
 * tab's webcam (templates/pifocus_strip.jinja2), so the webcam sharpening and the curve
 * growing can be watched at once. The sidebar panel stays the place for everything else.
 *
 * One strip per focus device, shown while the webcam the device focuses (its status's
 * "webcam": settings camera.webcam, or OctoPrint's snapshot webcam) is the one OctoPrint shows
 * on the Control tab; with several webcams it follows the user's choice in OctoPrint's webcam
 * selector. A device with a camera URL, or whose webcam is not shown, has no strip. A strip
 * has the position, Autofocus and Cancel, the progress and a small curve with the result:
 * the run view of pifocus_shared.js and the curve of pifocus_run.jinja2, as in the sidebar.
 *
 * Which webcam a pane of the Control tab shows: PiFocus's simulated cameras say so
 * (data-pifocus-webcam, pifocus_simcam.jinja2); another plugin's pane (webcam_plugin_<id>)
 * shows that plugin's webcams (OctoPrint's webcam list, "provider").
 *
 * Permissions are the sidebar's (pifocus_sidebar.js canSee, canControl): the strips show to
 * users who may see focus (PLUGIN_PIFOCUS_CONTROL or _ADMIN), the buttons only to those who
 * may control it.
 */
$(function () {
    "use strict";

    var shared = window.PiFocusShared;
    var PLUGIN = shared.PLUGIN;
    var isNumber = shared.isNumber;
    var errorText = shared.errorText;

    /** One focus device's strip: its status, its run (progress, curve, result), its commands. */
    function DeviceStrip(owner, id) {
        var self = this;
        self.id = id;
        self.status = ko.observable(null);
        self.sending = ko.observable(false);
        self.cancelling = ko.observable(false);

        self.name = ko.pureComputed(function () {
            var st = self.status();
            return (st && st.device_name) || self.id;
        });
        self.webcam = ko.pureComputed(function () {
            var st = self.status();
            return st && typeof st.webcam === "string" ? st.webcam : null;
        });
        self.driverText = ko.pureComputed(function () {
            var st = self.status();
            return st ? st.driver_name || st.driver || "" : "";
        });

        // What the run view and the curve need (the sidebar's names, for the shared templates).
        shared.addLensView(self);
        self.position = ko.pureComputed(function () {
            var st = self.status();
            return st && isNumber(st.position) ? st.position : null;
        });
        self.positionText = ko.pureComputed(function () {
            return shared.formatNumber(self.position(), self.decimals());
        });

        shared.addRunView(self);

        /** Why this device cannot autofocus now ("" when it can), a run or a click aside. */
        self.reason = ko.pureComputed(function () {
            var st = self.status();
            if (!st) return "";
            if (!st.driver) return gettext("No lens driver: set up PiFocus in its settings.");
            if (st.lens_ok === false) return st.lens_error || gettext("The lens cannot be used right now.");
            if (st.z_blocked) return String(st.z_blocked);
            return "";
        });
        self.canRun = ko.pureComputed(function () {
            return owner.canControl() && !!self.status() && !self.reason() && !self.busy() && !self.sending();
        });

        self.fromStatus = function (st) {
            if (!st || typeof st !== "object") return;
            self.runFromStatus(st);
            self.status(st);
            if (!st.busy) self.cancelling(false);
        };

        function post(command, title) {
            return OctoPrint.simpleApiCommand(PLUGIN, command, {device: self.id})
                .done(function (response) {
                    if (response && typeof response === "object" && "driver" in response) {
                        self.fromStatus(response);
                    }
                })
                .fail(function (xhr) {
                    shared.notifyError(title, errorText(xhr));
                    owner.requestStatus();
                });
        }

        self.autofocus = function () {
            if (!self.canRun()) return;
            self.sending(true);
            self.lastResult(null);
            post("autofocus", gettext("Autofocus did not start")).always(function () {
                self.sending(false);
            });
        };

        self.cancel = function () {
            if (!owner.canControl() || !self.busy() || self.cancelling()) return;
            self.cancelling(true);
            post("cancel", gettext("Could not cancel the autofocus")).fail(function () {
                self.cancelling(false);
            });
        };
    }

    function PiFocusStripViewModel(parameters) {
        var self = this;

        self.loginState = parameters[0];
        self.access = parameters[1];
        self.settings = parameters[2];
        self.sidebar = parameters[3]; // piFocusViewModel: who may see and control focus

        self.strips = ko.observableArray([]); // DeviceStrip, in device order
        self.shownWebcams = ko.observableArray([]); // names of the webcams the Control tab shows
        self.loaded = ko.observable(false); // the devices' status was asked for and answered (or refused)

        // The sidebar's rules: OctoPrint's permissions, or what the API reported to it.
        self.canControl = self.sidebar.canControl;
        self.canSee = self.sidebar.canSee;

        self.titles = {
            autofocus: gettext("Find the sharpest lens position"),
            cancel: gettext("Stop the autofocus and move the lens back")
        };

        /** OctoPrint shows the webcams only with its WEBCAM permission: no picture, no strip. */
        self.canSeeWebcam = ko.pureComputed(function () {
            var permission = self.access.permissions ? self.access.permissions.WEBCAM : undefined;
            return self.loginState.loggedIn() && permission !== undefined && self.loginState.hasPermission(permission);
        });

        self.shownStrips = ko.pureComputed(function () {
            if (!self.canSee() || !self.canSeeWebcam()) return [];
            var webcams = self.shownWebcams();
            return _.filter(self.strips(), function (strip) {
                var webcam = strip.webcam();
                return webcam !== null && webcams.indexOf(webcam) >= 0;
            });
        });

        function stripOf(id) {
            return _.find(self.strips(), function (strip) {
                return strip.id === id;
            });
        }

        // ~~ the devices' status in, from the API and the pushed messages

        self.fromDevices = function (body) {
            if (!body || !Array.isArray(body.devices)) return;
            var strips = _.map(body.devices, function (st) {
                var strip = stripOf(st.device) || new DeviceStrip(self, st.device);
                strip.fromStatus(st);
                return strip;
            });
            self.strips(strips);
        };

        self.requestStatus = function () {
            if (!self.loginState.loggedIn()) {
                self.strips([]);
                return;
            }
            OctoPrint.get(OctoPrint.getSimpleApiUrl(PLUGIN))
                .done(self.fromDevices)
                .fail(function () {
                    // No status (no permission after all, PiFocus stopped): no strips.
                    self.strips([]);
                })
                .always(function () {
                    self.loaded(true);
                });
        };

        self.onDataUpdaterPluginMessage = function (plugin, data) {
            if (plugin !== PLUGIN || !data || typeof data !== "object" || !self.canSee()) return;
            if (!_.contains(["status", "progress", "result"], data.type)) return;
            var id = data.device || (data.type === "status" && data.status ? data.status.device : undefined);
            var strip = id ? stripOf(id) : self.strips()[0];
            if (!strip) {
                // A device added meanwhile (or the first status after loading): ask for all.
                if (self.strips().length || id) self.requestStatus();
                return;
            }
            if (data.type === "status") {
                strip.fromStatus(data.status);
            } else if (data.type === "progress") {
                strip.fromProgress(data);
            } else {
                strip.fromResult(data.result);
            }
        };

        // ~~ the webcam the Control tab shows

        /** The names of the webcams a pane of the Control tab's webcam area shows. */
        function paneWebcams(pane) {
            var own = $(pane)
                .find("[data-pifocus-webcam]")
                .map(function () {
                    return $(this).attr("data-pifocus-webcam");
                })
                .get();
            if (own.length) return own;
            // webcam_plugin_<provider>, or with a suffix (a plugin's second webcam template):
            // the longest provider that fits, so "foo" does not take "foo_bar"'s pane.
            var webcams = self.settings.webcam_webcams ? self.settings.webcam_webcams() || [] : [];
            var provider = "";
            _.each(webcams, function (webcam) {
                var candidate = String(ko.unwrap(webcam.provider) || "");
                var div = "webcam_plugin_" + candidate;
                var fits = candidate && (pane.id === div || pane.id.indexOf(div + "_") === 0);
                if (fits && candidate.length > provider.length) provider = candidate;
            });
            return _.map(
                _.filter(webcams, function (webcam) {
                    return provider && ko.unwrap(webcam.provider) === provider;
                }),
                function (webcam) {
                    return String(ko.unwrap(webcam.name));
                }
            );
        }

        self.updateShownWebcam = function () {
            var panes = $("#webcam-group > .tab-pane");
            var active = panes.filter(".active");
            if (!active.length && panes.length === 1) active = panes; // OctoPrint marks a lone one late
            var names = active.length ? paneWebcams(active[0]) : [];
            if (!_.isEqual(names, self.shownWebcams())) self.shownWebcams(names);
        };

        /** Under OctoPrint's webcam view (after binding: #control is bound by OctoPrint's own
         * view model, and a block moved in before would be bound twice). */
        function attach() {
            var container = $("#webcam_plugins_container");
            var strips = $("#pifocus_strips");
            if (!container.length || !strips.length) return;
            strips.insertAfter(container);
            // OctoPrint switches webcams by the panes' "active" class (its selector, or its
            // default at start-up): follow the class, whoever changes it.
            var observer = new MutationObserver(self.updateShownWebcam);
            $("#webcam-group > .tab-pane").each(function () {
                observer.observe(this, {attributes: true, attributeFilter: ["class"]});
            });
            self.updateShownWebcam();
        }

        // ~~ OctoPrint's view model callbacks

        self.onAllBound = function () {
            attach();
            self.requestStatus();
            if (ko.isObservable(self.settings.webcam_webcams)) {
                self.settings.webcam_webcams.subscribe(self.updateShownWebcam);
            }
        };

        self.onStartupComplete = function () {
            self.updateShownWebcam();
        };

        // Signed in, other rights, a device or its camera changed, a server restart.
        self.onUserLoggedIn = self.onUserPermissionsChanged = self.requestStatus;
        self.onSettingsSaved = self.onDataUpdaterReconnect = self.requestStatus;

        self.onUserLoggedOut = function () {
            self.strips([]);
        };
    }

    OCTOPRINT_VIEWMODELS.push({
        construct: PiFocusStripViewModel,
        name: "piFocusStripViewModel",
        dependencies: ["loginStateViewModel", "accessViewModel", "settingsViewModel", "piFocusViewModel"],
        elements: ["#pifocus_strips"]
    });
});
