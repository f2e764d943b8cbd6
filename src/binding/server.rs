//! A client for commands to a server outside any fence: `tenantfence/testing` initiates the
//! replica set it starts with it, so an app's tests need no second driver. It reaches nothing a
//! fence guards that the caller could not reach with a connection string of its own.

use std::sync::Mutex;
use std::time::Duration;

use mongodb::options::ClientOptions;
use mongodb::Client;
use napi::bindgen_prelude::PromiseRaw;
use napi::Env;
use napi_derive::napi;

use super::error::{arg, FenceError};
use super::reply::Reply;
use super::settle::spawn;

/// One driver client for `admin` commands (`replSetInitiate`, `hello`, `replSetGetStatus`).
#[napi]
pub struct AdminClient {
    client: Mutex<Option<Client>>,
}

impl Drop for AdminClient {
    fn drop(&mut self) {
        if let Some(client) = self.client.lock().ok().and_then(|mut c| c.take()) {
            super::runtime::drop_outside_js(client);
        }
    }
}

#[napi]
impl AdminClient {
    /// A client for `uri` (server selection waits 10 s unless the URI says otherwise).
    #[napi(factory)]
    pub async fn connect(uri: String) -> napi::Result<AdminClient> {
        let fut = async move {
            let mut opts = ClientOptions::parse(&uri)
                .await
                .map_err(|e| arg(format!("uri is not a valid MongoDB connection string: {e}")))?;
            opts.server_selection_timeout.get_or_insert(Duration::from_secs(10));
            opts.app_name.get_or_insert_with(|| "tenantfence-admin".into());
            Ok::<_, FenceError>(AdminClient {
                client: Mutex::new(Some(Client::with_options(opts)?)),
            })
        };
        Ok(fut.await?)
    }

    /// Runs the BSON `command` on the `admin` database; the reply is its BSON document.
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn command<'e>(&self, env: &'e Env, command: &[u8]) -> napi::Result<PromiseRaw<'e, Reply>> {
        let client = self.client.lock().ok().and_then(|c| c.clone());
        let cmd = super::payload::document(command);
        spawn(env, move || async move {
            let cmd = cmd.map_err(|e| arg(format!("command: {e}")))?;
            let client = client.ok_or(FenceError::Closed)?;
            let reply = client.database("admin").run_command(cmd).await?;
            Ok(Reply(bson::to_vec(&reply).map_err(|e| arg(format!("reply: {e}")))?))
        })
    }

    /// Closes the client.
    #[napi]
    pub fn close<'e>(&self, env: &'e Env) -> napi::Result<PromiseRaw<'e, ()>> {
        let client = self.client.lock().ok().and_then(|mut c| c.take());
        spawn(env, move || async move {
            if let Some(c) = client {
                c.shutdown().immediate(true).await;
            }
            Ok(())
        })
    }
}
