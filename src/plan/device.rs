//! An open, prepared device session: connected with the target's host-key policy, console
//! pager off (as netmiko does it), VDOM setting checked; reads the managed state.
use anyhow::Context;

use crate::config::Target;
use crate::fortios::device::{self, Console};
use crate::fortios::fields::FieldRules;
use crate::fortios::model::{Owner, State};
use crate::fortios::ssh::{ConnectOptions, Session};

/// A connected, prepared device.
pub struct Device {
    pub session: Session,
    pub console: Console,
    pub patterns: Vec<String>,
}

impl Device {
    /// Connect, prepare the console (pager off) and check the VDOM setting.
    pub async fn open(o: &ConnectOptions, t: &Target) -> anyhow::Result<Device> {
        let mut session = Session::connect(o)
            .await
            .with_context(|| format!("target `{}` ({}:{})", t.name, t.host, t.port))?;
        let patterns = t.error_patterns.clone();
        let console = device::prepare(&mut session, &patterns).await?;
        device::check_vdom(&console, t.vdom.as_deref(), &t.name)?;
        Ok(Device {
            session,
            console,
            patterns,
        })
    }

    /// Read the managed state and the backup text.
    pub async fn read(
        &mut self,
        vdom: Option<&str>,
        owner: &Owner,
        fields: &FieldRules,
    ) -> anyhow::Result<(State, String)> {
        device::read_state(&mut self.session, vdom, owner, fields, &self.patterns).await
    }

    /// Restore the pager, log out; returns the transcript (secrets redacted).
    pub async fn close(mut self) -> String {
        let _ = device::restore(&mut self.session, &self.console, &self.patterns).await;
        self.session.close().await
    }
}
